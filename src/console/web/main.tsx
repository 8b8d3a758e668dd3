/** The console page: a navigation bar and one view at a time, chosen by the URL's hash. */
import "@xterm/xterm/css/xterm.css";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ClusterView } from "./cluster.js";
import { ContainerDetail } from "./container-detail.js";
import { ContainersView } from "./containers.js";
import { EventsView } from "./events-view.js";
import { ImagesView, NetworksView, VolumesView } from "./resources.js";

const VIEWS: [string, string][] = [
  ["containers", "Containers"],
  ["images", "Images"],
  ["volumes", "Volumes"],
  ["networks", "Networks"],
  ["events", "Events"],
  ["cluster", "Cluster"],
];

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const change = () => setHash(location.hash);
    window.addEventListener("hashchange", change);
    return () => window.removeEventListener("hashchange", change);
  }, []);
  return hash;
}

function App() {
  const hash = useHash();
  const [view = "containers", arg] = hash.replace(/^#\/?/, "").split("/");
  const open = (id: string) => {
    location.hash = `#/containers/${id}`;
  };
  let body = <ContainersView open={open} />;
  if (view === "containers" && arg) body = <ContainerDetail key={arg} id={arg} />;
  else if (view === "images") body = <ImagesView />;
  else if (view === "volumes") body = <VolumesView />;
  else if (view === "networks") body = <NetworksView />;
  else if (view === "events") body = <EventsView />;
  else if (view === "cluster") body = <ClusterView />;
  return (
    <div class="app" data-testid="app">
      <nav>
        <strong class="brand">Berth</strong>
        {VIEWS.map(([key, label]) => (
          <a key={key} href={`#/${key}`} class={view === key ? "current" : ""}>
            {label}
          </a>
        ))}
      </nav>
      <main>{body}</main>
    </div>
  );
}

render(<App />, document.getElementById("app")!);
