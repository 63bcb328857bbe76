// simple-peer ships no types; both its Node entry and its browser bundle export the constructor.
// Ambient module declarations cannot use relative `import type`, hence the import() types here.
/* eslint-disable @typescript-eslint/consistent-type-imports */
declare module 'simple-peer' {
  const SimplePeer: import('./simple-peer-types.ts').SimplePeerConstructor
  export default SimplePeer
}
declare module 'simple-peer/simplepeer.min.js' {
  const SimplePeer: import('./simple-peer-types.ts').SimplePeerConstructor
  export default SimplePeer
}
