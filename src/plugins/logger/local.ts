// The run folder writer: always on, the source of truth that MLflow sync reads later.
// Format: docs/architecture.md ("Run folder").
import fs from 'node:fs/promises';
import path from 'node:path';
import { definePlugin } from '../../framework/plugin.js';
import type { MetricPoint, RunInfo, RunLogger, RunStatus } from '../../framework/contracts.js';
import type { RunMeta } from '../../tracking/runs/folder.js';
import { appendFileChecked, writeFileAtomic } from '../../base/safe-write.js';

export class LocalRunWriter implements RunLogger {
  private dir = '';
  private meta!: RunMeta & { artifacts: string[] };
  private buffer: string[] = [];
  private params: Record<string, string> = {};

  async start(run: RunInfo): Promise<void> {
    this.dir = run.runDir;
    const previous = await readJson<RunMeta>(path.join(this.dir, 'meta.json'));
    this.meta = {
      runId: run.runId,
      runName: run.runName,
      status: 'RUNNING',
      startTime: previous?.startTime ?? run.startTime,
      configPath: run.configPath,
      configHash: run.configHash,
      description: run.description,
      tags: { ...previous?.tags, ...run.tags },
      artifacts: previous?.artifacts ?? [],
    };
    this.params = { ...run.params };
    await this.writeMeta();
    try {
      await writeFileAtomic(path.join(this.dir, 'params.json'), JSON.stringify(run.params, null, 2));
    } catch (e) {
      // Not started, so the run will not end this logger: record the failure here.
      Object.assign(this.meta, { status: 'FAILED', endTime: Date.now(), error: (e as Error).message });
      await this.writeMeta().catch(() => undefined);
      throw e;
    }
  }

  async logParams(params: Record<string, string>): Promise<void> {
    Object.assign(this.params, params);
    await fs.writeFile(path.join(this.dir, 'params.json'), JSON.stringify(this.params, null, 2));
  }

  async setTags(tags: Record<string, string>): Promise<void> {
    Object.assign(this.meta.tags, tags);
    await this.writeMeta();
  }

  async logMetrics(points: MetricPoint[]): Promise<void> {
    for (const p of points) this.buffer.push(JSON.stringify(p));
    // Written at once so a kill loses at most the current batch's points.
    await this.flush();
  }

  logArtifact(relPath: string): void {
    if (!this.meta.artifacts.includes(relPath)) this.meta.artifacts.push(relPath);
  }

  async end(status: RunStatus, summary: Record<string, unknown>): Promise<void> {
    // meta.json is written last whatever failed before it, so the run never stays RUNNING; a failed
    // write makes a finished run FAILED, naming the file.
    let failure: unknown = null;
    for (const write of [() => this.flush(), () => writeFileAtomic(path.join(this.dir, 'summary.json'), JSON.stringify(summary, null, 2))]) {
      try {
        await write();
      } catch (e) {
        failure ??= e;
      }
    }
    Object.assign(this.meta, { status: failure ? 'FAILED' : status, endTime: Date.now() });
    if (typeof summary.error === 'string') this.meta.error = summary.error;
    else if (failure) this.meta.error = (failure as Error).message;
    await this.writeMeta();
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows what the loggers threw
    if (failure) throw failure;
  }

  private async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const text = this.buffer.map((l) => `${l}\n`).join('');
    this.buffer = [];
    await appendFileChecked(path.join(this.dir, 'metrics.jsonl'), text);
  }

  private async writeMeta(): Promise<void> {
    await writeFileAtomic(path.join(this.dir, 'meta.json'), JSON.stringify(this.meta, null, 2));
  }
}

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

export const localLogger = definePlugin({
  name: 'local',
  kind: 'logger',
  description: 'writes the run folder (config, params, metrics.jsonl, meta, summary); always on',
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  create: (): RunLogger => new LocalRunWriter(),
});
