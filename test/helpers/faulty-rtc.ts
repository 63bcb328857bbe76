import wrtc from '@roamhq/wrtc'
import type { RtcPeerConnectionClass } from '../../client/core/peer/rtc-peer.ts'

/** The first byte of the frame each side sends once the handshake is done (peer/link.ts). */
export const helloFrame = 0x02

/** Faults a device puts into its next connections (each count goes down as it is used). */
export interface Faults {
  /** Connections that send this frame as soon as their channel opens. */
  garbage: number
  /** Connections that end right after the other side's hello arrived (while the ratchet is chosen). */
  drops: number
}

/** A meaningless frame: a type no version of Tincan sends. */
export const meaninglessFrame = Uint8Array.of(0xff, 0xde, 0xad, 0xbe, 0xef)

/**
 * The real WebRTC (`@roamhq/wrtc`) with `faults` applied to its data channels: a device whose
 * connections misbehave the way a closing tab, a broken network or a buggy app makes them.
 */
export function faultyRtc(faults: Faults): RtcPeerConnectionClass {
  const Real = wrtc.RTCPeerConnection as unknown as RtcPeerConnectionClass
  return function FaultyPeerConnection(config?: RTCConfiguration): RTCPeerConnection {
    const pc = new Real(config)
    // The channel this side makes (as the caller), or the one the other side made.
    const create = pc.createDataChannel.bind(pc)
    pc.createDataChannel = (label: string, init?: RTCDataChannelInit) =>
      faulty(pc, create(label, init), faults)
    // Its own listeners run before the `ondatachannel` handler: the channel is faulty by then.
    pc.addEventListener('datachannel', (e) => faulty(pc, e.channel, faults))
    return pc
  } as unknown as RtcPeerConnectionClass
}

function faulty(pc: RTCPeerConnection, channel: RTCDataChannel, faults: Faults): RTCDataChannel {
  wrapHandler(channel, 'onopen', (handler, e) => {
    handler(e)
    if (faults.garbage <= 0) return
    faults.garbage--
    channel.send(meaninglessFrame)
  })
  wrapHandler(channel, 'onmessage', (handler, e) => {
    handler(e)
    const data = (e as MessageEvent<unknown>).data
    const first =
      data instanceof ArrayBuffer
        ? new Uint8Array(data)[0]
        : ArrayBuffer.isView(data)
          ? new Uint8Array(data.buffer, data.byteOffset, 1)[0]
          : undefined
    if (first !== helloFrame || faults.drops <= 0) return
    faults.drops--
    pc.close()
  })
  return channel
}

/**
 * `target[name] = handler` installs `wrapped` around the handler. @roamhq/wrtc keeps these handlers
 * as plain properties and calls whatever `target[name]` gives when an event comes.
 */
function wrapHandler(
  target: object,
  name: 'onopen' | 'onmessage',
  wrapped: (handler: (e: Event) => void, e: Event) => void,
): void {
  let current: ((e: Event) => void) | null = null
  Object.defineProperty(target, name, {
    configurable: true,
    enumerable: true,
    get: () => (current === null ? null : (e: Event) => wrapped(current as (e: Event) => void, e)),
    set: (handler: ((e: Event) => void) | null) => {
      current = handler
    },
  })
}
