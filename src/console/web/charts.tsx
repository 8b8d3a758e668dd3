/** A live series drawn with uPlot: a fixed window of the last samples, redrawn per sample. */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";

export interface SeriesChartProps {
  title: string;
  labels: string[];
  /** [times, ...series], each the same length. */
  data: number[][];
  format: (v: number) => string;
  testId: string;
}

export function SeriesChart({ title, labels, data, format, testId }: SeriesChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  useEffect(() => {
    const colors = ["#2f7ed8", "#e4572e", "#17a398"];
    plot.current = new uPlot(
      {
        width: Math.max(240, (box.current?.clientWidth ?? 320) - 8),
        height: 140,
        legend: { show: true },
        cursor: { show: false },
        axes: [{}, { values: (_u, vals) => vals.map((v) => format(v)), size: 70 }],
        series: [{}, ...labels.map((label, i) => ({ label, stroke: colors[i % colors.length]!, width: 2 }))],
        scales: { y: { range: (_u, _min, max) => [0, Math.max(max, 1e-9) * 1.1] } },
      },
      data as uPlot.AlignedData,
      box.current!,
    );
    const resize = () =>
      plot.current?.setSize({ width: Math.max(240, (box.current?.clientWidth ?? 320) - 8), height: 140 });
    window.addEventListener("resize", resize);
    return () => {
      window.removeEventListener("resize", resize);
      plot.current?.destroy();
    };
  }, []);
  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);
  const last = data[1]?.[data[1].length - 1];
  return (
    <div class="chart" data-testid={testId} data-last={last === undefined ? "" : String(last)}>
      <h4>
        {title}
        {last === undefined ? "" : `: ${format(last)}`}
      </h4>
      <div ref={box} />
    </div>
  );
}
