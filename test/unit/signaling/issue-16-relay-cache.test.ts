import { describe, expect, it } from 'vitest'
import { RelayPolicy } from '../../../signaling/context.ts'

/** Friendship answers from a stand-in database that counts how often it is asked (the test is about the cache). */
function countingStorage() {
  const asked = { count: 0 }
  return {
    asked,
    storage: {
      areFriends: () => {
        asked.count++
        return Promise.resolve(true)
      },
      isBlocked: () => Promise.resolve(false),
      shareGroup: () => Promise.resolve(false),
    },
  }
}

describe('relay policy cache', () => {
  it('keeps the busy pairs cached when more pairs than it holds have relayed', async () => {
    const { asked, storage } = countingStorage()
    // The server's bound: a busy node sees this many pairs within the time to live.
    const maxPairs = 100_000
    const policy = new RelayPolicy(storage, 60_000)
    const pairs = maxPairs + 2
    let allowed = 0
    for (let i = 0; i < pairs; i++) if (await policy.allowed('alice', `friend${i}`)) allowed++
    expect(allowed).toBe(pairs)
    expect(asked.count).toBe(pairs)
    // Pairs that relayed lately are the ones most likely to relay next: the database is not asked again.
    expect(await policy.allowed(`friend${pairs - 2}`, 'alice')).toBe(true)
    expect(await policy.allowed('alice', `friend${pairs - 1000}`)).toBe(true)
    expect(asked.count).toBe(pairs)
    // Only the least recently used pairs made room.
    await policy.allowed('alice', 'friend0')
    expect(asked.count).toBe(pairs + 1)
  })

  it('asks the database again once an answer is older than its time to live', async () => {
    const { asked, storage } = countingStorage()
    const policy = new RelayPolicy(storage, 20)
    await policy.allowed('alice', 'bob')
    await policy.allowed('bob', 'alice')
    expect(asked.count).toBe(1)
    await new Promise((resolve) => setTimeout(resolve, 40))
    await policy.allowed('alice', 'bob')
    expect(asked.count).toBe(2)
  })

  it('forgets a pair when its friendship changes', async () => {
    const { asked, storage } = countingStorage()
    const policy = new RelayPolicy(storage)
    await policy.allowed('alice', 'bob')
    policy.forgetHere(['bob', 'alice'])
    await policy.allowed('alice', 'bob')
    expect(asked.count).toBe(2)
  })
})
