export type PassphraseStrength = 'weak' | 'fair' | 'strong'

/**
 * A rough hint, not a guarantee: bits from the length and the kinds of characters used, with
 * repeated characters counting less. Long phrases of ordinary words come out strong, as they
 * should; "Password1!" does not.
 */
export function passphraseStrength(passphrase: string): PassphraseStrength {
  const chars = [...passphrase]
  let pool = 0
  if (/[a-z]/.test(passphrase)) pool += 26
  if (/[A-Z]/.test(passphrase)) pool += 26
  if (/[0-9]/.test(passphrase)) pool += 10
  if (/[\s]/.test(passphrase)) pool += 1
  if (/[^a-zA-Z0-9\s]/.test(passphrase)) pool += 33
  const distinct = new Set(chars).size
  // Each distinct character is worth full bits; repeats are worth a quarter.
  const bits = Math.log2(Math.max(pool, 2)) * (distinct + (chars.length - distinct) / 4)
  if (chars.length < 8 || bits < 45) return 'weak'
  if (bits < 70) return 'fair'
  return 'strong'
}
