import { beforeAll, describe, expect, it } from 'vitest'
import {
  createMemberList,
  CryptoError,
  ed25519KeyPair,
  initCrypto,
  nextMemberList,
  toBase64Url,
  type KeyPair,
} from '../../../../crypto/index.ts'
import { MemberChain } from '../../../../client/core/groups/member-chain.ts'

let ann: KeyPair
let bob: KeyPair
let mallory: KeyPair

beforeAll(async () => {
  await initCrypto()
  ann = ed25519KeyPair()
  bob = ed25519KeyPair()
  mallory = ed25519KeyPair()
})

const member = (id: string, key: KeyPair) => ({ id, identityKey: toBase64Url(key.publicKey), admin: false })

function code(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (e: unknown) {
    return CryptoError.is(e) ? e.code : 'other'
  }
  return undefined
}

describe('member chain', () => {
  it('accepts a chain rooted at the creator’s pinned key and reports each change', () => {
    const v0 = createMemberList('g', { id: 'ann', identityKey: ann }, [member('bob', bob)], 'Hikers')
    const chain = MemberChain.verify([v0], ann.publicKey)
    const v1 = nextMemberList(v0, { id: 'ann', identityKey: ann }, [...v0.members, member('cat', mallory)])
    const v2 = nextMemberList(
      v1,
      { id: 'ann', identityKey: ann },
      v1.members.filter((m) => m.id !== 'bob'),
    )
    expect(chain.extend([v0, v1, v2])).toEqual([
      { version: 1, added: ['cat'], removed: [] },
      { version: 2, added: [], removed: ['bob'] },
    ])
    expect(chain.version).toBe(2)
    expect(chain.creator).toBe('ann')
    expect(chain.isMember('bob')).toBe(false)
    expect(chain.isMember('bob', 1)).toBe(true)
    expect(chain.everMember('bob')).toBe(true)
    expect(chain.after(0).map((v) => v.version)).toEqual([1, 2])
    expect(MemberChain.restore(JSON.parse(JSON.stringify(chain.all)) as unknown[]).hash).toBe(chain.hash)
  })

  it('refuses a chain whose creator key is not the pinned one', () => {
    const v0 = createMemberList('g', { id: 'ann', identityKey: mallory }, [member('bob', bob)], 'Hikers')
    expect(code(() => MemberChain.verify([v0], ann.publicKey))).toBe('untrusted-key')
  })

  it('refuses a version that does not extend the one held (a member’s own idea of the list) and a fork, leaving the chain as it was', () => {
    const v0 = createMemberList('g', { id: 'ann', identityKey: ann }, [member('bob', bob)], 'Hikers')
    const chain = MemberChain.verify([v0], ann.publicKey)
    const byBob = nextMemberList(
      { ...v0, members: v0.members.map((m) => ({ ...m, admin: true })) },
      { id: 'bob', identityKey: bob },
      [...v0.members, member('mallory', mallory)],
    )
    expect(code(() => chain.extend([byBob]))).toBe('bad-chain')
    const real = nextMemberList(v0, { id: 'ann', identityKey: ann }, [...v0.members, member('cat', mallory)])
    const other = nextMemberList(v0, { id: 'ann', identityKey: ann }, v0.members)
    chain.extend([real])
    expect(code(() => chain.extend([other]))).toBe('bad-chain')
    expect(chain.version).toBe(1)
    expect(chain.isMember('cat')).toBe(true)
  })
})
