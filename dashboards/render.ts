// The dashboards this repo ships, rendered exactly as they are committed. Both the generator
// and the drift test use this, so "what the test expects" and "what the script writes" cannot
// disagree.
import { fileURLToPath } from 'node:url';
import { connectionQuality } from './connection-quality.js';
import { dependencies } from './dependencies.js';
import { serviceOverview } from './service-overview.js';
import { sessions } from './sessions.js';
import { trading } from './trading.js';

export interface RenderedDashboard {
  /** Absolute path of the committed JSON file. */
  path: string;
  /** File content: two-space JSON with a trailing newline, stable across runs. */
  content: string;
}

const file = (name: string): string => fileURLToPath(new URL(name, import.meta.url));

export function renderDashboards(): RenderedDashboard[] {
  return [
    {
      path: file('service-overview.json'),
      content: `${JSON.stringify(serviceOverview(), null, 2)}\n`,
    },
    {
      path: file('dependencies.json'),
      content: `${JSON.stringify(dependencies(), null, 2)}\n`,
    },
    {
      path: file('trading.json'),
      content: `${JSON.stringify(trading(), null, 2)}\n`,
    },
    {
      path: file('connection-quality.json'),
      content: `${JSON.stringify(connectionQuality(), null, 2)}\n`,
    },
    {
      path: file('sessions.json'),
      content: `${JSON.stringify(sessions(), null, 2)}\n`,
    },
  ];
}
