import { utf8Decode } from '../../crypto/index.ts'
import { decodeChannelFrame, parseJson, type ChannelFrame } from '../../shared/index.ts'
import type { FileTransfers } from './files/transfers.ts'
import type { Groups } from './groups/groups.ts'
import type { MessageActions } from './message-actions.ts'
import type { Messenger } from './messenger.ts'
import { capMaxMessageBytes } from './peer/link.ts'

export interface PeerRouterParts {
  readonly messenger: Pick<Messenger, 'receive' | 'receiveFileOffer' | 'acknowledge'>
  readonly actions: Pick<MessageActions, 'receive'>
  readonly files: Pick<FileTransfers, 'offer' | 'offerStored' | 'control'>
  readonly groups: Pick<Groups, 'receive' | 'isGroupOnly'>
}

/**
 * A decrypted frame from a friend's (or a group member's) connection: JSON within the frame
 * limits, then one decoder that tells group frames and one-to-one frames apart by their tag.
 * Undefined for anything malformed: the other side's app is not trusted to be well-behaved.
 */
export function decodePeerFrame(plaintext: Uint8Array): ChannelFrame | undefined {
  let text: string
  try {
    text = utf8Decode(plaintext)
  } catch {
    return undefined
  }
  // A data channel message is bounded by what the connection accepts, not by the server's frame limit.
  const json = parseJson(text, capMaxMessageBytes)
  if (!json.ok) return undefined
  const decoded = decodeChannelFrame(json.value)
  return decoded.ok ? decoded.value : undefined
}

/**
 * Every frame that arrives over a connection goes to the part that handles its tag, and nowhere
 * else: the parts do not hand frames to one another.
 */
export class PeerRouter {
  constructor(private readonly p: PeerRouterParts) {}

  /** A frame from `peer`'s connection, whose remote side proved `identityKey` in its handshake. */
  async receive(peer: string, plaintext: Uint8Array, identityKey: Uint8Array): Promise<void> {
    const decoded = decodePeerFrame(plaintext)
    if (decoded === undefined) return
    if (decoded.channel === 'group') {
      await this.p.groups.receive(peer, decoded.frame, identityKey)
      return
    }
    // A group member who is not a friend has a connection for group frames only.
    if (this.p.groups.isGroupOnly(peer)) return
    const { messenger, actions, files } = this.p
    const frame = decoded.frame
    switch (frame.type) {
      case 'text':
      case 'receipt':
      case 'typing':
      case 'timer':
        await messenger.receive(peer, frame)
        return
      case 'file-offer':
        await messenger.receiveFileOffer(peer, frame, files)
        return
      case 'reaction':
      case 'edit':
      case 'delete':
        await actions.receive(peer, frame)
        // From the friend's outbox: confirmed even when repeated or refused, so it leaves there.
        messenger.acknowledge(peer, frame.id)
        return
      case 'file-accept':
      case 'file-ack':
        await files.control(peer, frame)
        return
      case 'file-decline':
      case 'file-cancel':
      case 'file-done':
        await files.control(peer, frame)
        messenger.acknowledge(peer, frame.id)
        return
      default: {
        const unreachable: never = frame
        return unreachable
      }
    }
  }
}
