import { describe, expect, it } from 'vitest'
import { Holdings, PeerView } from '../../../../client/core/groups/holdings.ts'
import { RangeSet } from '../../../../client/core/groups/ranges.ts'

function holding(sender: string, epoch: number, held: [number, number][], prev?: number) {
  return {
    sender,
    epoch,
    listVersion: epoch,
    prev: prev === undefined ? undefined : { epoch: prev, count: 100, listVersion: prev },
    held: RangeSet.of(held),
  }
}

describe('group summaries', () => {
  it('list the newest epochs of each sender with what was read of them', () => {
    const h = new Holdings()
    for (let e = 1; e <= 10; e++) h.set(holding('ann', e, [[0, 100]], e - 1))
    h.set(
      holding('bob', 3, [
        [0, 4],
        [6, 9],
      ]),
    )
    const summary = h.summarize(() => false)
    const ann = summary.find((s) => s.s === 'ann')!
    expect(ann.e.map((e) => e.e)).toEqual([10, 9, 8, 7, 6, 5, 4])
    expect(summary.find((s) => s.s === 'bob')!.e).toEqual([
      {
        e: 3,
        d: true,
        r: [
          [0, 4],
          [6, 9],
        ],
      },
    ])
  })

  it('ask for the epoch before the first one held when this member was in its list version', () => {
    const h = new Holdings()
    h.set(holding('ann', 5, [[0, 3]], 4))
    expect(h.summarize((v) => v >= 4)[0]!.e).toEqual([
      { e: 5, d: true, r: [[0, 3]] },
      { e: 4, d: false, r: [] },
    ])
    // Not in that version (joined later): nothing before is asked for.
    expect(h.summarize((v) => v >= 5)[0]!.e).toHaveLength(1)
  })
})

describe('what a connected member still needs', () => {
  const view = PeerView.fromSummary([
    {
      s: 'ann',
      e: [
        {
          e: 7,
          d: true,
          r: [
            [0, 10],
            [12, 20],
          ],
        },
        { e: 5, d: false, r: [] },
      ],
    },
  ])

  it('is what its summary does not list, from its lowest listed epoch on', () => {
    expect(view.needs('ann', 7, 5)).toBe(false)
    expect(view.needs('ann', 7, 11)).toBe(true)
    expect(view.needs('ann', 7, 20)).toBe(true)
    expect(view.needs('ann', 6, 0)).toBe(true)
    expect(view.needsKey('ann', 6)).toBe(true)
    expect(view.needsKey('ann', 5)).toBe(true)
    expect(view.needsKey('ann', 7)).toBe(false)
    // Below the floor: done with (or from before its time).
    expect(view.needs('ann', 4, 0)).toBe(false)
    expect(view.needsKey('ann', 4)).toBe(false)
    // A sender it says nothing about: everything.
    expect(view.needs('bob', 1, 0)).toBe(true)
  })

  it('shrinks with what it acknowledges or is sent', () => {
    const v = new PeerView()
    expect(v.needs('bob', 1, 3)).toBe(true)
    v.got('bob', 1, 3)
    v.gotRanges('bob', 1, [[0, 3]])
    expect(v.needs('bob', 1, 2)).toBe(false)
    expect(v.needs('bob', 1, 3)).toBe(false)
    expect(v.needs('bob', 1, 4)).toBe(true)
    v.gotKey('bob', 1)
    expect(v.needsKey('bob', 1)).toBe(false)
  })
})
