/** Data that stays current: fetched once, fetched again when a matching event arrives. */
import { useEffect, useState } from "preact/hooks";
import { getJson } from "./api.js";
import { type DaemonEvent, debounce, onEvent } from "./events.js";

export function useLive<T>(
  path: string,
  types: string[],
): { data: T | undefined; error: string | undefined } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    let live = true;
    const load = () =>
      getJson<T>(path).then(
        (d) => {
          if (!live) return;
          setData(d);
          setError(undefined);
        },
        (err: Error) => live && setError(err.message),
      );
    void load();
    const reload = debounce(load, 250);
    const off = onEvent((e: DaemonEvent) => {
      if (types.includes(e.Type)) reload();
    });
    return () => {
      live = false;
      off();
    };
  }, [path]);
  return { data, error };
}
