/** A small built-in set of common emoji for the composer's picker (nothing is fetched). */
export const commonEmoji: readonly string[] = [
  '😀 😂 🙂 😊 😍 😘 😉 😎',
  '🤔 😅 😢 😭 😮 😡 🥳 😴',
  '👍 👎 👏 🙏 👋 💪 🤝 👀',
  '❤️ 💔 🔥 ✨ 🎉 💯 ✅ ❌',
  '☕ 🍕 🍻 🎂 🌞 🌧️ ⭐ 🚀',
]
  .join(' ')
  .split(' ')

/** Emoji per row of the picker grid (arrow keys move by this much vertically). */
export const emojiColumns = 8

/** The reactions a message's menu offers in one row. */
export const quickReactions: readonly string[] = ['👍', '❤️', '😂', '😮', '😢', '🙏']
