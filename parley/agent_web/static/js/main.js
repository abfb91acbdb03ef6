// The agent desktop: starts the socket and every view, and wires the page's own
// controls (side panels, language, logout, help).

import { api } from "./api.js";
import { CalendarPanel } from "./calendar.js";
import "./chat.js"; // registers the chat panel with the workspace
import { setUpRedial } from "./voice.js"; // and the call panel
import { EmailFinder } from "./email.js"; // registers the email panel, too
import { setUpForwarding } from "./forwarding.js";
import { setUpRaiseHand } from "./raise_hand.js";
import { CasesPanel } from "./cases.js";
import { Desktop } from "./desktop.js";
import { DirectoryPanel } from "./directory.js";
import { byId } from "./dom.js";
import { InfoPanel } from "./info.js";
import { setUpNotificationButton, showError } from "./notify.js";
import { Offers } from "./offers.js";
import { installShortcuts } from "./shortcuts.js";
import { Softphone } from "./softphone.js";
import { AgentSocket } from "./socket.js";
import { StatsPanel } from "./stats.js";
import { StatusBar } from "./status.js";
import { VisitorsPanel } from "./visitors.js";
import { config } from "./strings.js";
import { Workspace } from "./workspace.js";

const socket = new AgentSocket(config.socket_path, config.heartbeat_seconds);
const desktop = new Desktop(socket);
const status = new StatusBar(desktop);
const offers = new Offers(desktop);
const workspace = new Workspace(desktop);
new InfoPanel(desktop);
const panels = {
  stats: new StatsPanel(desktop),
  calendar: new CalendarPanel(desktop, offers.ringer),
  directory: new DirectoryPanel(desktop),
  email: new EmailFinder(desktop),
  cases: new CasesPanel(desktop),
  visitors: new VisitorsPanel(desktop),
};
installShortcuts({ desktop, offers, status, workspace });
setUpNotificationButton();
setUpRedial(desktop);
// The browser as the agent's phone: one WebRTC line for the shift (F-VO-11).
const softphone = config.has_browser_line ? new Softphone(desktop) : null;

// Side panels: one shown at a time; a panel reads its data when it is opened.
const sideTabs = [...document.querySelectorAll(".side-tabs [role=tab]")];
for (const tab of sideTabs) {
  tab.addEventListener("click", () => {
    for (const other of sideTabs) {
      const isThis = other === tab;
      other.setAttribute("aria-selected", String(isThis));
      byId(other.getAttribute("aria-controls")).hidden = !isThis;
    }
    panels[tab.id.replace("side-tab-", "")]?.refresh();
  });
}

// A case opened from elsewhere (an email found that is not in hand) shows in Cases.
document.addEventListener("parley:open-case", (event) => {
  byId("side-tab-cases").click();
  panels.cases.open(event.detail.caseId);
});

byId("language").addEventListener("change", async (event) => {
  try {
    await api("PUT", "/api/me/language", { language: event.target.value });
    window.location.reload();
  } catch (error) {
    showError(error);
  }
});

// Log out of the engine first (offline now, offers move on), then end the session.
byId("logout-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  socket.isStopped = true;
  softphone?.stop();
  await desktop.logout().catch(() => {});
  event.target.submit();
});

byId("help-button").addEventListener("click", () => byId("help").showModal());
setUpForwarding();
setUpRaiseHand(desktop);

desktop.loadReasonCodes().catch(showError);
for (const panel of Object.values(panels)) panel.refresh();
socket.start();
