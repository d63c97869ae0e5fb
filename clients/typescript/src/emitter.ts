/**
 * A small typed event emitter: event names map to argument tuples, so a
 * listener's parameters are checked against the event it listens to.
 */

/** A map from event name to the arguments its listeners receive. */
export type EventMap = Record<string, unknown[]>

/** A listener of event `K` of `Events`. */
export type Listener<Events extends EventMap, K extends keyof Events> = (...args: Events[K]) => void

export class Emitter<Events extends EventMap> {
  readonly #listeners = new Map<keyof Events, Set<Listener<Events, keyof Events>>>()

  /** Calls `listener` on every `event`; returns a function that stops it. */
  on<K extends keyof Events> (event: K, listener: Listener<Events, K>): () => void {
    let set = this.#listeners.get(event)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(event, set)
    }
    set.add(listener as Listener<Events, keyof Events>)
    return () => this.off(event, listener)
  }

  /** Calls `listener` on the next `event` only. */
  once<K extends keyof Events> (event: K, listener: Listener<Events, K>): () => void {
    const off = this.on(event, (...args) => {
      off()
      listener(...args)
    })
    return off
  }

  /** Stops calling `listener` on `event`. */
  off<K extends keyof Events> (event: K, listener: Listener<Events, K>): void {
    this.#listeners.get(event)?.delete(listener as Listener<Events, keyof Events>)
  }

  /**
   * Calls every listener of `event`. A listener that throws does not keep the
   * others from running; its error is reported asynchronously, like an
   * uncaught error in an event handler.
   */
  protected emit<K extends keyof Events> (event: K, ...args: Events[K]): void {
    const set = this.#listeners.get(event)
    if (set === undefined) return
    for (const listener of [...set]) {
      try {
        listener(...args)
      } catch (error) {
        queueMicrotask(() => { throw error })
      }
    }
  }

  /** Forgets every listener. */
  protected removeAllListeners (): void {
    this.#listeners.clear()
  }
}
