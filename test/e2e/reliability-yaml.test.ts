// Hostile configs: huge files, alias bombs, unknown tags, other encodings and configs with tens of
// thousands of mistakes each get a short `file: …` error, quickly, and never a raw exception.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { loadExperiment } from '../../src/framework/config/load.js';
import { createRegistry } from '../../src/plugins/index.js';
import { MAX_LISTED_PROBLEMS } from '../../src/framework/config/sources.js';
import { UserError } from '../../src/base/errors.js';
import { useTmpDir } from '../helpers/tmp-dir.js';
import { expectOneClearLine, gzx } from '../helpers/cli.js';

const tmpDir = useTmpDir('gzx-yaml-');

function write(name: string, content: string | Buffer): string {
  const file = path.join(tmpDir(), name);
  fs.writeFileSync(file, content);
  return file;
}

async function failure(file: string): Promise<UserError> {
  const err = await loadExperiment(file, [], createRegistry()).then(
    () => null,
    (e) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  return err as UserError;
}

/** A billion-laughs document: 9 levels of 9 aliases each. */
function aliasBomb(): string {
  let text = 'name: bomb\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n';
  for (let i = 1; i <= 9; i++)
    text += `l${i}: &l${i} [${Array(9)
      .fill(`*l${i - 1}`)
      .join(', ')}]\n`;
  return text;
}

describe('hostile YAML', () => {
  it('an alias bomb is a one-line error naming the file, from the CLI too', async () => {
    const file = write('bomb.yaml', aliasBomb());
    expect((await failure(file)).message).toMatch(/bomb\.yaml:1:1: YAML aliases \(\*name\) expand to more than 1000 nodes/);
    const r = await gzx(['validate', file], { cwd: tmpDir() });
    expect(r.code).toBe(1);
    expect(expectOneClearLine(r)).toMatch(/^gzx: .*bomb\.yaml:1:1: YAML aliases/);
  });

  it('a file over the size limit is refused before parsing; GZX_MAX_CONFIG_BYTES changes the limit', async () => {
    const big = write('big.yaml', `name: big\n# ${'x'.repeat(1_100_000)}\n`);
    expect((await failure(big)).message).toMatch(/big\.yaml: the config is 1,100,\d+ bytes, more than the limit of 1,000,000 .*GZX_MAX_CONFIG_BYTES/);
    const small = write('small.yaml', 'name: small\nseed: 1\n');
    process.env.GZX_MAX_CONFIG_BYTES = '10';
    try {
      expect((await failure(small)).message).toMatch(/more than the limit of 10 /);
    } finally {
      delete process.env.GZX_MAX_CONFIG_BYTES;
    }
  });

  it('unknown YAML tags are errors with their line, not silently strings', async () => {
    const file = write('tags.yaml', 'name: t\nseed: 1\ndescription: !!python/object:os.system "echo hi"\noutput_dir: !custom runs\n');
    const msg = (await failure(file)).message;
    expect(msg).toMatch(/tags\.yaml:3:\d+: YAML tag !!python\/object:os\.system is not allowed/);
    expect(msg).toMatch(/tags\.yaml:4:\d+: YAML tag !custom is not allowed/);
  });

  it('a config that is not UTF-8 says which encoding it seems to be', async () => {
    const text = 'name: utf16\nseed: 1\n';
    const le = write('utf16le.yaml', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
    expect((await failure(le)).message).toMatch(
      /utf16le\.yaml: the config is not UTF-8 text \(it is UTF-16 LE, with a byte-order mark\)\. Save it as UTF-8/,
    );
    const noBom = write('utf16-nobom.yaml', Buffer.from(text, 'utf16le'));
    expect((await failure(noBom)).message).toMatch(/not UTF-8 text \(it has NUL bytes, as UTF-16 LE text does\)/);
    const latin1 = write('latin1.yaml', Buffer.from('name: x\ndescription: caf\xe9 au lait\n', 'latin1'));
    expect((await failure(latin1)).message).toMatch(/latin1\.yaml: the config is not UTF-8 text \(line 2 has bytes that are not UTF-8/);
    const r = await gzx(['validate', le], { cwd: tmpDir() });
    expect(expectOneClearLine(r)).toContain('UTF-16 LE');
  });

  it('40,000 unknown keys: the first 50 problems and "and N more", in seconds', async () => {
    const keys = 40_000;
    const file = write('many.yaml', `name: many\n${Array.from({ length: keys }, (_, i) => `key${i}: ${i}\n`).join('')}`);
    const started = Date.now();
    const msg = (await failure(file)).message;
    expect(Date.now() - started).toBeLessThan(15_000);
    const lines = msg.split('\n');
    // Every key, plus the required keys the file lacks.
    const total = Number(/^(\d+) problems in .*many\.yaml:$/.exec(lines[0])?.[1]);
    expect(total).toBeGreaterThanOrEqual(keys);
    expect(lines).toHaveLength(MAX_LISTED_PROBLEMS + 2);
    expect(lines.at(-1)).toBe(`… and ${total - MAX_LISTED_PROBLEMS} more (fix these, then run gzx validate again)`);
  }, 60_000);

  it('empty values and tags on collections do not trip the tag check; devices are refused, not read forever', async () => {
    expect((await failure(write('empty.yaml', ''))).message).toMatch(/empty\.yaml:1:1: \(top level\): required key "data" is missing/);
    expect((await failure(write('set.yaml', 'name: x\ndescription: !!set {a, b}\n'))).message).toMatch(
      /set\.yaml:2:\d+: YAML tag !!set is not allowed/,
    );
    const zero = write('zero.yaml', 'extends: /dev/zero\nname: x\n');
    expect((await failure(zero)).message).toMatch(
      /zero\.yaml:1:10: extends: \/dev\/zero is not a regular file \(a device, pipe or socket\)\. Name a YAML file\./,
    );
  });

  it('runaway nesting is a syntax error that says so', async () => {
    const file = write('deep.yaml', `name: deep\nseed: ${'['.repeat(5000)}${']'.repeat(5000)}\n`);
    expect((await failure(file)).message).toMatch(/deep\.yaml:2:\d+: YAML syntax error: nested too deeply/);
  });

  it('duplicate keys are still found, by line', async () => {
    const file = write('dup.yaml', 'name: d\nseed: 1\nseed: 2\n');
    expect((await failure(file)).message).toMatch(/dup\.yaml:3:1: YAML syntax error: Map keys must be unique \("seed" appears twice\)/);
  });
});
