/**
 * The base of every error the client throws, after libsignal's `LibSignalErrorBase`: a `name`, a
 * `code` from a closed list that callers switch on, and the `cause`. The `message` is for the
 * console and may change; a person is shown the sentence the UI keeps for the code, never the
 * message (client/ui/src/lib/error-texts.ts). Each subclass exports its codes as a `const` list,
 * so they can be enumerated at run time (a test checks every one has a sentence in every language).
 */
export abstract class TincanError<C extends string = string> extends Error {
  abstract override readonly name: string
  readonly code: C

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }

  /**
   * True when `e` is an instance of the class this is called on (`ApiError.is(e)`, or any client
   * error for `TincanError.is(e)`) and, when `code` is given, has that code.
   */
  static is<E extends TincanError>(
    this: abstract new (...args: never[]) => E,
    e: unknown,
    code?: E['code'],
  ): e is E {
    return e instanceof this && (code === undefined || e.code === code)
  }
}
