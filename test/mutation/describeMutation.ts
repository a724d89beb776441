/**
 * The mutation suites' common part: run every mutant of one machine through its checks, print
 * the score, write it to coverage/mutation/<machine>.json (gitignored), and hold the survivors to
 * a reviewed allow-list with a reason each.
 *
 * Regenerate the allow-list after a machine changed: `MUTATION_REPORT=1 npx jest
 * test/mutation/<machine>.test.ts --runInBand` prints the survivors in allow-list form (known
 * reasons kept, new ones marked TODO). Review each before pasting it in.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { AnyStateMachine } from 'xstate';
import {
  enumerateMutants,
  formatAllowList,
  formatMutationReport,
  mutationTable,
  runMutation,
  type MutationCheck,
  type MutationReport,
} from '../../src/testing/mutation';

/** How long one machine's mutants may take under a loaded CI machine (generous: no luck). */
const RUN_TIMEOUT_MS = 600_000;

export const REPORT_DIR = path.join(__dirname, '..', '..', 'coverage', 'mutation');

export interface MutationSuite<TMachine extends AnyStateMachine> {
  machine: TMachine;
  /** Builds the checks (walks the model paths): run inside the test, not at import. */
  checks: () => Array<MutationCheck<TMachine>>;
  /** Survivors, each with the reason no test can observe it (or why it is left so). */
  survivors: Readonly<Record<string, string>>;
  /** The part of the suite run (when not every check of the model suite is), said in the report. */
  sample?: string;
  /**
   * The checks that come first (their names start with `prefix`, e.g. the replays on the real
   * runtime), which must kill every killed mutant but those in `except` (each with why those
   * checks cannot observe it). A mutant runs the checks in order, so the first that fails is
   * one of these whenever any of these can kill it.
   */
  killedFirstBy?: { prefix: string; except: Readonly<Record<string, string>> };
}

export function describeMutation<TMachine extends AnyStateMachine>(
  suite: MutationSuite<TMachine>,
): void {
  const id = suite.machine.id;
  describe(`${id} mutants`, () => {
    let report: MutationReport;
    beforeAll(async () => {
      const checks = suite.checks();
      report = await runMutation({ machine: suite.machine, checks });
      const rows = mutationTable([report]);
      console.table(rows);
      console.log(
        formatMutationReport(report) + (suite.sample ? ` [sample: ${suite.sample}]` : ''),
      );
      mkdirSync(REPORT_DIR, { recursive: true });
      writeFileSync(
        path.join(REPORT_DIR, `${id}.json`),
        JSON.stringify(
          {
            machine: id,
            sample: suite.sample ?? null,
            checks: report.checks,
            total: report.total,
            killed: report.killed,
            score: report.score,
            ms: report.ms,
            survivors: report.survivors.map((s) => ({
              id: s.id,
              relevantChecks: s.relevantChecks,
              reason: suite.survivors[s.id] ?? null,
            })),
            results: report.results,
          },
          null,
          2,
        ),
      );
      if (process.env.MUTATION_REPORT) console.log(formatAllowList(report, suite.survivors));
    }, RUN_TIMEOUT_MS);

    it('runs every guard (constantly true, constantly false) and every action (a no-op) as a mutant', () => {
      expect(report.results.map((r) => r.id)).toEqual(
        enumerateMutants(suite.machine).map((m) => m.id),
      );
    });

    it('lets exactly the mutants on the allow-list survive (a new survivor, or a listed one now killed, fails)', () => {
      const survivors = report.survivors.map((s) => s.id);
      const listed = Object.keys(suite.survivors);
      const unlisted = survivors.filter((s) => !listed.includes(s));
      const killed = listed.filter((s) => !survivors.includes(s));
      if (unlisted.length || killed.length) {
        throw new Error(
          [
            unlisted.length ? `survive but are not listed: ${unlisted.join(', ')}` : '',
            killed.length ? `listed but now killed: ${killed.join(', ')}` : '',
            `the survivors now, in allow-list form:\n${formatAllowList(report, suite.survivors)}`,
          ]
            .filter(Boolean)
            .join('\n'),
        );
      }
      expect(survivors.sort()).toEqual(listed.sort());
    });

    if (suite.killedFirstBy) {
      const { prefix, except } = suite.killedFirstBy;
      it(`kills every mutant with the checks "${prefix}…" but those listed with why they cannot`, () => {
        const others = report.results
          .filter((r) => r.status === 'killed' && !r.killedBy?.startsWith(prefix))
          .map((r) => r.id);
        expect(others.sort()).toEqual(Object.keys(except).sort());
        for (const [mutant, reason] of Object.entries(except)) {
          expect({ mutant, reason: reason.length > 20 }).toEqual({ mutant, reason: true });
        }
      });
    }

    it('says why each listed survivor cannot be observed', () => {
      for (const [mutant, reason] of Object.entries(suite.survivors)) {
        expect({ mutant, reason: reason.length > 20 && !/^TODO/.test(reason) }).toEqual({
          mutant,
          reason: true,
        });
      }
    });
  });
}
