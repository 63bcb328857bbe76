import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { RangeSet } from '../../../../client/core/groups/ranges.ts'

describe('RangeSet', () => {
  it('keeps merged half-open ranges', () => {
    const set = RangeSet.of([
      [5, 7],
      [0, 2],
    ])
    set.add(2)
    set.addRange(7, 9)
    expect(set.toPairs()).toEqual([
      [0, 3],
      [5, 9],
    ])
    expect(set.contiguous).toBe(3)
    expect(set.size).toBe(7)
    expect(set.has(4)).toBe(false)
    expect(set.add(4)).toBe(true)
    expect(set.add(4)).toBe(false)
    set.add(3)
    expect(set.toPairs()).toEqual([[0, 9]])
  })

  it('agrees with a plain set for any sequence of additions', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(200), fc.nat(20))), (adds) => {
        const set = new RangeSet()
        const model = new Set<number>()
        for (const [from, length] of adds) {
          set.addRange(from, from + length)
          for (let i = from; i < from + length; i++) model.add(i)
        }
        for (let i = 0; i < 230; i++) expect(set.has(i)).toBe(model.has(i))
        expect(set.size).toBe(model.size)
        const pairs = set.toPairs()
        for (let i = 1; i < pairs.length; i++) expect(pairs[i]![0]).toBeGreaterThan(pairs[i - 1]![1])
      }),
    )
  })

  it('leaves out the last ranges beyond a cap (a peer then gets those twice, never misses one)', () => {
    const set = RangeSet.of([
      [0, 1],
      [2, 3],
      [4, 5],
    ])
    expect(set.toPairs(2)).toEqual([
      [0, 1],
      [2, 3],
    ])
  })
})
