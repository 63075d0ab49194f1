import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** The repo's alert rule files, whatever the working directory. */
export const ALERTS_DIR = fileURLToPath(new URL('../../../alerts/', import.meta.url));

/** The scrape job the rules and dashboards select (`job=~"trading-platform.*"`, as k8s names it). */
export const SCRAPE_JOB = 'trading-platform';

/** One scraped process, labelled as the PodMonitor labels a pod. */
export interface ScrapeTarget {
  /** `host:port` of its HTTP listener (`/metrics`). */
  readonly address: string;
  readonly namespace: string;
  readonly pod: string;
}

export interface PrometheusOptions {
  /** A fresh directory for the config, the targets file and the TSDB. */
  readonly dir: string;
  readonly port: number;
  readonly scrapeIntervalS: number;
  /**
   * Every rule's `for:` set to this (e.g. `10s`), so a short run shows what a long incident
   * would page; undefined keeps the shipped durations.
   */
  readonly alertFor?: string;
}

export interface RangeSeries {
  readonly metric: Record<string, string>;
  /** [unix seconds, value as Prometheus prints it ("NaN" included)]. */
  readonly values: readonly (readonly [number, string])[];
}

const labels = z.record(z.string(), z.string());
const sample = z.tuple([z.number(), z.string()]);
/** Prometheus's HTTP API answers (https://prometheus.io/docs/prometheus/latest/querying/api/). */
const vectorAnswer = z.object({
  status: z.literal('success'),
  data: z.object({
    resultType: z.literal('vector'),
    result: z.array(z.object({ metric: labels, value: sample })),
  }),
});
const matrixAnswer = z.object({
  status: z.literal('success'),
  data: z.object({
    resultType: z.literal('matrix'),
    result: z.array(z.object({ metric: labels, values: z.array(sample) })),
  }),
});

export interface InstantSample {
  readonly metric: Record<string, string>;
  readonly value: readonly [number, string];
}

/** Whether a `prometheus` binary is on the PATH (Debian's package; `.ci/run` installs it). */
export function prometheusInstalled(): boolean {
  return spawnSync('prometheus', ['--version'], { stdio: 'ignore' }).error === undefined;
}

/**
 * A real Prometheus for the chaos run: scrapes every process of the local cluster found in a
 * file_sd targets file (rewritten as pods come and go, as Kubernetes discovery would see
 * them), evaluates the repo's alert and recording rules, and answers PromQL over the run.
 */
export class ChaosPrometheus {
  readonly url: string;
  #child: ChildProcess | undefined;
  #writes: Promise<void> = Promise.resolve();
  #stderr = '';
  #stopped = false;

  constructor(private readonly options: PrometheusOptions) {
    this.url = `http://127.0.0.1:${options.port}`;
  }

  get #targetsFile(): string {
    return join(this.options.dir, 'targets.json');
  }

  async start(targets: readonly ScrapeTarget[]): Promise<void> {
    const { dir, scrapeIntervalS } = this.options;
    await this.setTargets(targets);
    const config = {
      global: {
        scrape_interval: `${scrapeIntervalS}s`,
        scrape_timeout: `${scrapeIntervalS}s`,
        evaluation_interval: `${scrapeIntervalS}s`,
      },
      rule_files: await this.#ruleFiles(),
      scrape_configs: [
        {
          job_name: SCRAPE_JOB,
          file_sd_configs: [{ files: [this.#targetsFile], refresh_interval: '1s' }],
        },
      ],
    };
    // JSON is YAML.
    await writeFile(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));
    if (this.#stopped) throw new Error('prometheus stopped while starting');
    const child = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${this.options.port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.#child = child;
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      this.#stderr = (this.#stderr + text).slice(-4_000);
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) {
        throw new Error(`prometheus exited (${child.exitCode}): ${this.#stderr}`);
      }
      try {
        if ((await fetch(`${this.url}/-/ready`)).ok) return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error(`prometheus not ready in 60 s: ${this.#stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** Replaces the scraped targets; writes are atomic and in call order. */
  setTargets(targets: readonly ScrapeTarget[]): Promise<void> {
    // A failed write is its caller's to report; the next one still runs.
    this.#writes = this.#writes.catch(() => undefined).then(() => this.#writeTargets(targets));
    return this.#writes;
  }

  async #writeTargets(targets: readonly ScrapeTarget[]): Promise<void> {
    const groups = targets.map(({ address, namespace, pod }) => ({
      targets: [address],
      labels: { namespace, pod },
    }));
    // Prometheus may read the file at any moment: it must never see half of it.
    const partial = `${this.#targetsFile}.tmp`;
    await writeFile(partial, JSON.stringify(groups, null, 2));
    await rename(partial, this.#targetsFile);
  }

  /** The shipped rule files, or copies with every `for:` shortened. */
  async #ruleFiles(): Promise<string[]> {
    const names = (await readdir(ALERTS_DIR)).filter((name) => name.endsWith('.rules.yml'));
    const { alertFor } = this.options;
    if (alertFor === undefined) return names.map((name) => join(ALERTS_DIR, name));
    return Promise.all(
      names.map(async (name) => {
        const shipped = await readFile(join(ALERTS_DIR, name), 'utf8');
        const path = join(this.options.dir, name);
        await writeFile(path, shipped.replace(/^(\s+for:) \S+$/gm, `$1 ${alertFor}`));
        return path;
      }),
    );
  }

  /** An instant query at `atS` (unix seconds). */
  async query(expr: string, atS: number): Promise<InstantSample[]> {
    const params = new URLSearchParams({ query: expr, time: String(atS) });
    const body = await this.#get(`/api/v1/query?${params.toString()}`);
    return vectorAnswer.parse(body).data.result;
  }

  /** A range query from `startS` to `endS` every `stepS` seconds. */
  async queryRange(
    expr: string,
    startS: number,
    endS: number,
    stepS: number,
  ): Promise<RangeSeries[]> {
    const params = new URLSearchParams({
      query: expr,
      start: String(startS),
      end: String(endS),
      step: String(stepS),
    });
    const body = await this.#get(`/api/v1/query_range?${params.toString()}`);
    return matrixAnswer.parse(body).data.result;
  }

  async #get(path: string): Promise<unknown> {
    const response = await fetch(`${this.url}${path}`);
    const body: unknown = await response.json();
    if (!response.ok) {
      throw new Error(`prometheus ${path}: ${response.status} ${JSON.stringify(body)}`);
    }
    return body;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const child = this.#child;
    await this.#writes.catch(() => undefined);
    if (child?.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await once(child, 'exit');
    clearTimeout(timer);
  }
}
