import { describe, expect, it } from 'vitest'
import { RelayPolicy } from '../../../signaling/context.ts'

/** A stand-in database whose friendship answers the test releases by hand. */
function heldStorage() {
  const state = { friends: true, asked: 0 }
  const waiting: (() => void)[] = []
  return {
    state,
    release: () => {
      for (const go of waiting.splice(0)) go()
    },
    storage: {
      areFriends: () => {
        state.asked++
        // The answer is read when asked, and arrives when released.
        const answer = state.friends
        return new Promise<boolean>((resolve) => waiting.push(() => resolve(answer)))
      },
      isBlocked: () => Promise.resolve(false),
      shareGroup: () => Promise.resolve(false),
    },
  }
}

describe('relay policy cache (issue 17)', () => {
  it('asks the database once for signals of a pair that miss the cache together', async () => {
    const { state, release, storage } = heldStorage()
    const policy = new RelayPolicy(storage)
    const answers = [
      policy.allowed('alice', 'bob'),
      policy.allowed('bob', 'alice'),
      policy.allowed('alice', 'bob'),
    ]
    release()
    expect(await Promise.all(answers)).toEqual([true, true, true])
    expect(state.asked).toBe(1)
    expect(policy.cached('bob', 'alice')).toBe(true)
  })

  it('refuses at once after an unfriend that happened while the pair was being looked up', async () => {
    const { state, release, storage } = heldStorage()
    const policy = new RelayPolicy(storage)
    const before = policy.allowed('alice', 'bob')
    // Bob unfriends Alice while the lookup (which read "friends") is on its way.
    state.friends = false
    policy.forgetHere(['bob', 'alice'])
    release()
    // The frame that was waiting is answered as of when it arrived...
    expect(await before).toBe(true)
    // ...but that answer is not kept: the next signal is looked up again and refused.
    expect(policy.cached('alice', 'bob')).toBeUndefined()
    const after = policy.allowed('alice', 'bob')
    release()
    expect(await after).toBe(false)
    expect(state.asked).toBe(2)
  })

  it('does not hand a lookup started before a change to signals sent after it', async () => {
    const { state, release, storage } = heldStorage()
    const policy = new RelayPolicy(storage)
    const before = policy.allowed('alice', 'bob')
    state.friends = false
    policy.forgetHere(undefined)
    const after = policy.allowed('alice', 'bob')
    release()
    expect(await before).toBe(true)
    expect(await after).toBe(false)
    expect(policy.cached('alice', 'bob')).toBe(false)
  })
})
