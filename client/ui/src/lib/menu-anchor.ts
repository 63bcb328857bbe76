/** Where a popup menu opens: a button's box, or the point that was right-clicked or long-pressed. */
export interface MenuAnchor {
  readonly left: number
  readonly right: number
  readonly top: number
  readonly bottom: number
}
