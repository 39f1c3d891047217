/**
 * Self-preservation in plain words (issue #16, view 5). Eureka's banner ("EMERGENCY! EUREKA MAY BE INCORRECTLY
 * CLAIMING INSTANCES ARE UP…") left operators guessing (spring-cloud-netflix#3934): this says what it means, why it
 * is on, and what to do.
 */

import type { SelfPreservationReport } from '../../src/wire/index.js';

export function explainSelfPreservation(
  report: SelfPreservationReport,
  now: number,
): { active: boolean; headline: string; paragraphs: string[] } {
  if (!report.active) {
    return {
      active: false,
      headline: 'Off: leases expire normally.',
      paragraphs: [
        'An instance that stops sending heartbeats is marked critical when its lease lapses, and removed later.',
        'If many leases lapsed at once (more likely a network problem between the instances and the registry than ' +
          'that many crashes), the registry would stop expiring them for a while, so as not to empty discovery.',
        ...(report.reason === undefined ? [] : [`Last time: ${report.reason}`]),
      ],
    };
  }
  const since = report.since === undefined ? '' : ` since ${new Date(report.since).toLocaleTimeString()}`;
  const endsBy =
    report.endsBy === undefined
      ? ''
      : ` It ends by ${new Date(report.endsBy).toLocaleTimeString()}` +
        (Date.parse(report.endsBy) > now ? ' if some leases renew by then.' : '.');
  return {
    active: true,
    headline: `On${since}: the registry is not expiring leases.`,
    paragraphs: [
      `${report.overdue} of ${report.leases} protected leases are overdue at once. That many instances rarely fail ` +
        'together, so the registry assumes the heartbeats are being lost on the way and keeps the instances listed ' +
        'rather than emptying discovery.',
      `Why: ${report.reason ?? 'too many leases lapsed at once'}.${endsBy}`,
      'What to do: check the network between the instances and the registry, and whether the instances are up. ' +
        'Instances that really are gone can be deregistered by hand from their service page; the rest are expired ' +
        'normally once it ends. Clients may meanwhile be offered instances that no longer answer: they should retry ' +
        'another.',
    ],
  };
}
