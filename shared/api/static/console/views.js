// The console's sections, by the name in the address (`#/health`); `live` ones redraw every
// few seconds.

import { conflicts } from "./conflicts.js";
import { connect } from "./connect.js";
import { failures } from "./failures.js";
import { health } from "./health.js";
import { linking } from "./linking.js";
import { mapping } from "./mapping.js";
import { runs } from "./runs.js";

export const VIEWS = {
  health: { title: "Health", render: health, live: true },
  failures: { title: "Failures", render: failures, live: true },
  conflicts: { title: "Conflicts", render: conflicts, live: false },
  linking: { title: "Linking", render: linking, live: false },
  mapping: { title: "Mapping", render: mapping, live: false },
  runs: { title: "Runs", render: runs, live: true },
  connect: { title: "Connect", render: connect, live: false },
};
