import { describe, it, expect } from 'vitest';
import { describeAnswers, topAnswers } from '../../../src/galaxy/describe.js';
import { COLUMNS, NUM_COLUMNS, normaliseAnswers } from '../../../src/galaxy/tree.js';
import { REAL_LIKE_LABEL } from '../../fixtures/csv/galaxy-rows.js';

/** Builds a normalised row from raw per-column scores given by column name (others 0). */
function row(scores: Record<string, number>): number[] {
  const raw = new Array<number>(NUM_COLUMNS).fill(0);
  for (const [name, v] of Object.entries(scores)) raw[COLUMNS.indexOf(name)] = v;
  return normaliseAnswers([raw])[0];
}

describe('describeAnswers', () => {
  it('describes a smooth galaxy with its roundness and Q6', () => {
    const r = row({ 'Class1.1': 0.7, 'Class1.2': 0.2, 'Class1.3': 0.1, 'Class7.2': 0.6, 'Class7.1': 0.4, 'Class6.2': 0.9, 'Class6.1': 0.1 });
    expect(describeAnswers(r)).toBe('smooth, in between round; nothing odd');
  });

  it('describes a barred spiral with arms, tightness, bulge and an odd feature', () => {
    const r = row({
      'Class1.2': 0.8,
      'Class1.1': 0.2,
      'Class2.2': 0.9,
      'Class2.1': 0.1,
      'Class3.2': 0.7,
      'Class3.1': 0.3,
      'Class4.1': 0.8,
      'Class4.2': 0.2,
      'Class5.3': 0.6,
      'Class5.2': 0.4,
      'Class6.1': 0.6,
      'Class6.2': 0.4,
      'Class8.1': 0.5,
      'Class8.6': 0.2,
      'Class10.2': 0.5,
      'Class10.1': 0.3,
      'Class11.2': 0.6,
      'Class11.6': 0.2,
    });
    expect(describeAnswers(r)).toBe('features/disk, not edge-on, no bar, spiral (2 arms, medium), obvious bulge; odd: ring');
  });

  it('follows the edge-on branch to Q9 and skips the face-on questions', () => {
    const r = row({ 'Class1.2': 1, 'Class2.1': 0.8, 'Class2.2': 0.2, 'Class3.1': 1, 'Class9.2': 0.9, 'Class9.1': 0.1, 'Class6.2': 1 });
    expect(describeAnswers(r)).toBe('features/disk, edge-on, boxy bulge; nothing odd');
  });

  it('names a star or artifact and the odd feature with shares', () => {
    const r = row({ 'Class1.3': 0.8, 'Class1.1': 0.2, 'Class6.1': 0.75, 'Class6.2': 0.25, 'Class8.4': 1 });
    expect(describeAnswers(r, { shares: true })).toBe('star or artifact 80%; odd: irregular 100%');
  });

  it('describes the real-like label row along its path', () => {
    expect(describeAnswers(REAL_LIKE_LABEL)).toBe(
      'features/disk, not edge-on, no bar, spiral (more than four arms, tight), obvious bulge; nothing odd',
    );
    expect(topAnswers(REAL_LIKE_LABEL).map((t) => t.question.number)).toEqual([1, 2, 3, 4, 11, 10, 5, 6]);
  });

  it('says "no answer" for an all-zero row', () => {
    expect(describeAnswers(new Array(NUM_COLUMNS).fill(0))).toBe('no answer');
  });
});
