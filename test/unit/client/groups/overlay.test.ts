import { describe, expect, it } from 'vitest'
import { chooseLinks, forwardingParents, ringNeighbors } from '../../../../client/core/groups/overlay.ts'

const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `m${String(i).padStart(2, '0')}`)

/** Hops from `from` to every member over the links everyone chose. */
function hops(members: string[], maxLinks: number, from: string): Map<string, number> {
  const links = new Map(members.map((m) => [m, new Set(ringNeighbors(m, members, maxLinks))]))
  const dist = new Map([[from, 0]])
  const queue = [from]
  while (queue.length > 0) {
    const at = queue.shift()!
    for (const next of links.get(at) ?? []) {
      if (dist.has(next)) continue
      dist.set(next, (dist.get(at) ?? 0) + 1)
      queue.push(next)
    }
  }
  return dist
}

describe('group connections', () => {
  it('links everyone in a group small enough', () => {
    const members = names(5)
    expect(ringNeighbors('m00', members, 8).sort()).toEqual(['m01', 'm02', 'm03', 'm04'])
  })

  it('keeps at most maxLinks in a group of 50, chosen mutually, and reaches everyone in a few hops', () => {
    const members = names(50)
    for (const m of members) {
      const mine = ringNeighbors(m, members, 8)
      expect(mine.length).toBeLessThanOrEqual(8)
      for (const other of mine) expect(ringNeighbors(other, members, 8)).toContain(m)
    }
    const far = Math.max(...hops(members, 8, 'm17').values())
    expect(hops(members, 8, 'm17').size).toBe(50)
    expect(far).toBeLessThanOrEqual(5)
  })

  it('stays connected with two links each (a ring)', () => {
    const members = names(12)
    expect(hops(members, 2, 'm00').size).toBe(12)
    expect(ringNeighbors('m00', members, 2).sort()).toEqual(['m01', 'm11'])
  })

  it('shares the budget across groups, ring neighbors first, a shared member once', () => {
    const chosen = chooseLinks(
      [
        ['a', 'b', 'c', 'd'],
        ['x', 'a', 'y', 'z'],
      ],
      4,
    )
    expect(chosen).toEqual(['a', 'x', 'b', 'c'])
  })
})

describe('forwarding trees', () => {
  it('give every online member one parent, over ring links, from any origin', () => {
    const members = names(50)
    for (const origin of ['m00', 'm23', 'm49']) {
      const parents = forwardingParents(origin, members, 8)
      expect(parents.size).toBe(49)
      expect(parents.has(origin)).toBe(false)
      for (const [child, parent] of parents) {
        const linked =
          ringNeighbors(parent, members, 8).includes(child) ||
          ringNeighbors(child, members, 8).includes(parent)
        expect(linked).toBe(true)
      }
      // The origin's own links are its children: it sends to them directly.
      for (const n of ringNeighbors(origin, members, 8)) expect(parents.get(n)).toBe(origin)
    }
  })

  it('are empty when the origin is not online (everyone then passes the message to everyone)', () => {
    expect(forwardingParents('zed', names(5), 8).size).toBe(0)
  })
})
