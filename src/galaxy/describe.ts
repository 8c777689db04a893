// A 37-vector in words, following the decision tree along the most popular answer of every
// question the volunteers reached: "smooth, in between round; nothing odd".
import { NUM_COLUMNS, QUESTIONS, type Question } from './tree.js';

export interface TopAnswer {
  question: Question;
  /** 0-based answer index within the question. */
  answer: number;
  /** The answer's value in the vector (share of all volunteers). */
  value: number;
  /** The answer's share among this question's answers. */
  share: number;
}

const byNumber = (n: number) => QUESTIONS.find((q) => q.number === n)!;

function top(row: ArrayLike<number>, n: number): TopAnswer | null {
  const q = byNumber(n);
  let best = -1;
  let sum = 0;
  for (let i = 0; i < q.answers.length; i++) {
    const v = row[q.start + i];
    sum += Math.max(0, v);
    if (v > 0 && (best < 0 || v > row[q.start + best])) best = i;
  }
  if (best < 0) return null;
  const value = row[q.start + best];
  return { question: q, answer: best, value, share: value / sum };
}

/** The most popular answers along the path the tree takes (Q1, then its follow-ups, then Q6/Q8). */
export function topAnswers(row: ArrayLike<number>): TopAnswer[] {
  if (row.length !== NUM_COLUMNS) throw new Error(`topAnswers: ${row.length} values, expected ${NUM_COLUMNS}`);
  const path: TopAnswer[] = [];
  const visit = (n: number): TopAnswer | null => {
    const t = top(row, n);
    if (t) path.push(t);
    return t;
  };
  const q1 = visit(1);
  if (q1?.answer === 0) visit(7);
  if (q1?.answer === 1) {
    const edgeOn = visit(2);
    if (edgeOn?.answer === 0) visit(9);
    if (edgeOn?.answer === 1) {
      visit(3);
      const spiral = visit(4);
      if (spiral?.answer === 0) {
        visit(11);
        visit(10);
      }
      visit(5);
    }
  }
  const odd = visit(6);
  if (odd?.answer === 0) visit(8);
  return path;
}

function phrase(t: TopAnswer): string {
  const label = t.question.answers[t.answer];
  switch (t.question.number) {
    case 1:
      return ['smooth', 'features/disk', 'star or artifact'][t.answer];
    case 2:
      return t.answer === 0 ? 'edge-on' : 'not edge-on';
    case 3:
      return t.answer === 0 ? 'bar' : 'no bar';
    case 4:
      return t.answer === 0 ? 'spiral' : 'no spiral';
    case 5:
      return t.answer === 0 ? 'no bulge' : `${label} bulge`;
    case 6:
      return t.answer === 0 ? 'odd' : 'nothing odd';
    case 7:
      return t.answer === 1 ? 'in between round' : label;
    case 9:
      return t.answer === 2 ? 'no bulge' : `${label} bulge`;
    case 10:
      return label;
    case 11:
      return t.answer === 5 ? 'arms uncountable' : `${label} arm${t.answer === 0 ? '' : 's'}`;
    default:
      return label;
  }
}

export interface DescribeOptions {
  /** Append each answer's share within its question, e.g. "smooth 62%". */
  shares?: boolean;
}

/**
 * E.g. "features/disk, not edge-on, no bar, spiral (2 arms, medium), obvious bulge; odd: ring".
 * A question whose answers are all zero ends its branch (nothing to say).
 */
export function describeAnswers(row: ArrayLike<number>, options: DescribeOptions = {}): string {
  const path = topAnswers(row);
  const say = (t: TopAnswer) => phrase(t) + (options.shares ? ` ${Math.round(t.share * 100)}%` : '');
  const find = (n: number) => path.find((t) => t.question.number === n);
  const shape: string[] = [];
  for (const t of path) {
    const n = t.question.number;
    if (n === 6 || n === 8 || n === 10 || n === 11) continue;
    if (n === 4 && t.answer === 0) {
      const details = [find(11), find(10)].filter((x): x is TopAnswer => !!x).map(say);
      shape.push(details.length ? `${say(t)} (${details.join(', ')})` : say(t));
      continue;
    }
    shape.push(say(t));
  }
  const odd = find(6);
  const feature = find(8);
  let oddText = '';
  if (odd) oddText = odd.answer === 0 && feature ? `odd: ${say(feature)}` : say(odd);
  const main = shape.length ? shape.join(', ') : 'no answer';
  return oddText ? `${main}; ${oddText}` : main;
}
