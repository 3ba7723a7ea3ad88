// The console's sections, by the name in the address (`#/health`); `live` ones redraw every
// few seconds.

import { conflicts } from "./conflicts.js";
import { connect } from "./connect.js";
import * as failuresView from "./failures.js";
import * as healthView from "./health.js";
import * as linkingView from "./linking.js";
import * as mappingView from "./mapping.js";
import * as runsView from "./runs.js";

const { failures } = failuresView;
const { health } = healthView;
const { linking } = linkingView;
const { mapping } = mappingView;
const { runs } = runsView;

/** Forgets what the sections remember between drawings (filters, choices, caches). */
export function forgetAll() {
  for (const view of [failuresView, healthView, linkingView, mappingView, runsView]) view.forget();
}

export const VIEWS = {
  health: { title: "Health", render: health, live: true },
  failures: { title: "Failures", render: failures, live: true },
  conflicts: { title: "Conflicts", render: conflicts, live: false },
  linking: { title: "Linking", render: linking, live: false },
  mapping: { title: "Mapping", render: mapping, live: false },
  runs: { title: "Runs", render: runs, live: true },
  connect: { title: "Connect", render: connect, live: false },
};
