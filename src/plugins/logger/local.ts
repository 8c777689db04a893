// The run folder writer: always on, the source of truth that MLflow sync reads later.
// Format: docs/architecture.md ("Run folder").
import fs from 'node:fs/promises';
import path from 'node:path';
import { definePlugin } from '../../core/plugin.js';
import type { MetricPoint, RunInfo, RunLogger, RunStatus } from '../../core/contracts.js';
import type { RunMeta } from '../../core/runs/folder.js';

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
    await fs.writeFile(path.join(this.dir, 'params.json'), JSON.stringify(this.params, null, 2));
    await this.writeMeta();
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
    await this.flush();
    Object.assign(this.meta, { status, endTime: Date.now() });
    if (typeof summary.error === 'string') this.meta.error = summary.error;
    await fs.writeFile(path.join(this.dir, 'summary.json'), JSON.stringify(summary, null, 2));
    await this.writeMeta();
  }

  private async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const text = this.buffer.map((l) => `${l}\n`).join('');
    this.buffer = [];
    await fs.appendFile(path.join(this.dir, 'metrics.jsonl'), text);
  }

  private async writeMeta(): Promise<void> {
    const file = path.join(this.dir, 'meta.json');
    await fs.writeFile(`${file}.tmp`, JSON.stringify(this.meta, null, 2));
    await fs.rename(`${file}.tmp`, file);
  }
}

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

export const localLogger = definePlugin<Record<string, never>, RunLogger>({
  name: 'local',
  kind: 'logger',
  description: 'writes the run folder (config, params, metrics.jsonl, meta, summary); always on',
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  create: () => new LocalRunWriter(),
});
