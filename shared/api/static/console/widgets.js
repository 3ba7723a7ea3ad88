// Pieces every section uses: the note on what needs another role, and a button that runs an
// action, reports its outcome and redraws.

import { h } from "./dom.js";

export function needs(role, what) {
  return h("p", { class: "needs" }, `${what} needs the ${role} role.`);
}

/** A button that disables itself while `run` runs, then reports and redraws. */
export function action(label, ctx, run, attributes) {
  const button = h("button", Object.assign({ type: "button" }, attributes || {}), label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const message = await run();
      if (message) ctx.notify(message);
      await ctx.refresh();
    } catch (error) {
      ctx.fail(error);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
