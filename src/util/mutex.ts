/** Serialises async critical sections within this process (read-modify-write of a state file). */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => {});
    return result;
  }

  /** Waits for the lock and holds it until the returned function is called. */
  async acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const turn = this.tail;
    this.tail = turn.then(() => held);
    await turn;
    return release;
  }
}

/** One Mutex per key (a container, a plugin): verbs on the same one wait for each other. */
export class KeyedMutex {
  private readonly locks = new Map<string, Mutex>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let m = this.locks.get(key);
    if (!m) {
      m = new Mutex();
      this.locks.set(key, m);
    }
    return m.run(fn);
  }

  /** The key is gone for good (removed): its lock goes too. */
  forget(key: string): void {
    this.locks.delete(key);
  }
}
