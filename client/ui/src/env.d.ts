/// <reference types="svelte" />
/// <reference types="vite/client" />

/** Compiled in by vite.config.ts `define`: the server cannot change them for an open page. */
declare const __TINCAN_VERSION__: string
/** The Ed25519 key (base64url) whose signature makes a changed client an update. */
declare const __TINCAN_RELEASE_PUBLIC_KEY__: string
declare const __TINCAN_RELEASE_CHECK_MS__: number
/** True under `vite` (the dev server), which serves no release.json: nothing to check. */
declare const __TINCAN_DEV_SERVER__: boolean
