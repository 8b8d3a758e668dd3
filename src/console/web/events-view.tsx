/** The daemon's events as they happen, newest first (the last 300). */
import { useEffect, useState } from "preact/hooks";
import { type DaemonEvent, onEvent } from "./events.js";

const KEEP = 300;

export function EventsView() {
  const [events, setEvents] = useState<DaemonEvent[]>([]);
  useEffect(() => onEvent((e) => setEvents((list) => [e, ...list].slice(0, KEEP))), []);
  return (
    <section>
      <p class="muted">Events since this page opened, newest first.</p>
      <table class="list" data-testid="events">
        <thead>
          <tr>
            <th>Time</th>
            <th>Type</th>
            <th>Action</th>
            <th class="wide">Actor</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e, i) => (
            <tr key={`${e.timeNano ?? e.time}-${i}`}>
              <td>{new Date(e.time * 1000).toLocaleTimeString()}</td>
              <td>{e.Type}</td>
              <td>{e.Action}</td>
              <td class="wide">{e.Actor.Attributes?.["name"] ?? e.Actor.ID.slice(0, 12)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
