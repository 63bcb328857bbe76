/** The Node.js flags the server runs with (server-node-flags.mjs). */
export declare const serverNodeFlags: readonly string[]
