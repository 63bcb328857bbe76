/**
 * Wraps an async task so that calls made while it runs are merged into one more run after it:
 * a burst of calls costs at most two runs. The task returns undefined when there is nothing to
 * do, and must handle its own errors.
 */
export function coalesced(task: () => Promise<void> | undefined): () => void {
  let running = false
  let again = false
  const run = (): void => {
    if (running) {
      again = true
      return
    }
    const done = task()
    if (done === undefined) return
    running = true
    void done.finally(() => {
      running = false
      if (again) {
        again = false
        run()
      }
    })
  }
  return run
}
