import type { IncomingFailure } from './incoming.ts'

/** Messages from the page to the receive worker (receive-worker.ts). `id` names one incoming file. */
export type ToReceiveWorker =
  | {
      readonly op: 'open'
      readonly id: number
      /** The account whose IndexedDB holds the chunks. */
      readonly username: string
      readonly fileId: string
      readonly fileIdBytes: Uint8Array
      readonly key: Uint8Array
      readonly size: number
      readonly chunkSize: number
      readonly chunkCount: number
      readonly hash: Uint8Array
      readonly stored: number
      readonly batchChunks: number
    }
  | {
      readonly op: 'piece'
      readonly id: number
      readonly index: number
      readonly last: boolean
      readonly piece: Uint8Array
    }
  | { readonly op: 'reset'; readonly id: number }
  | { readonly op: 'settle'; readonly id: number; readonly ticket: number }
  | { readonly op: 'stop'; readonly id: number }

export type FromReceiveWorker =
  | { readonly op: 'opened'; readonly id: number; readonly resumeFrom: number }
  | { readonly op: 'open-failed'; readonly id: number; readonly message: string }
  | { readonly op: 'stored'; readonly id: number; readonly stored: number }
  | { readonly op: 'complete'; readonly id: number }
  | { readonly op: 'failed'; readonly id: number; readonly code: IncomingFailure; readonly message: string }
  | { readonly op: 'settled'; readonly id: number; readonly ticket: number }
