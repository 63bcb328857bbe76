/**
 * How far ahead of this device's clock another person's clock may run and still be believed.
 * Honest clocks differ by seconds, a machine without time sync by a minute or two; five
 * minutes leaves room for those and still keeps a message from being dated in the future.
 */
export const maxClockAheadMs = 5 * 60 * 1000

/**
 * The time a message (or a change to one) from someone else is filed, ordered and shown under:
 * the sender's own time, unless it is more than `maxClockAheadMs` ahead of the arrival here —
 * then the arrival. Whoever dates a message in 2286 cannot keep it at the bottom of the chat and
 * the chat at the top of the list, nor date a timer change, edit or reaction so late that no later
 * one can replace it. Earlier times are kept: a message can honestly wait days in a sender's outbox.
 */
export function plausibleSentAt(claimedMs: number, arrivedAtMs: number): number {
  return claimedMs > arrivedAtMs + maxClockAheadMs ? arrivedAtMs : claimedMs
}
