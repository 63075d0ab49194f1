// Kubernetes manifests: render every kustomization and check what the app's contract needs
// (probes, POD_NAME, grace period vs. shutdown settings, hardening, no committed secrets).
// kubectl renders; the `yaml` package parses what it renders.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/index.js';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    configMapKeyRef?: { name: string; key: string };
  };
}
interface Probe {
  httpGet?: { path: string; port: string | number; scheme?: string };
}
interface Container {
  name: string;
  image?: string;
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string; optional?: boolean }; secretRef?: { name: string } }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  startupProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[] };
  };
}
interface PodSpec {
  containers: Container[];
  volumes?: { name: string; secret?: { secretName: string; items?: { key: string }[] } }[];
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  topologySpreadConstraints?: {
    topologyKey: string;
    whenUnsatisfiable: string;
    labelSelector?: { matchLabels?: Record<string, string> };
  }[];
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: {
    selector?: { matchLabels?: Record<string, string> } | Record<string, string>;
    template?: { metadata?: { labels?: Record<string, string> }; spec: PodSpec };
    scaleTargetRef?: { kind: string; name: string };
    ports?: { name: string; port: number; appProtocol?: string }[];
    rules?: {
      http: {
        paths: { path: string; backend: { service: { name: string; port: { name: string } } } }[];
      };
    }[];
    maxUnavailable?: number | string;
    minAvailable?: number | string;
  };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

const TARGETS = ['k8s/base', 'k8s/overlays/local', 'k8s/overlays/eks'];
const ROLES = ['api', 'engine', 'stream'];
// The roles that serve Auth (issue tokens) or authenticated calls and streams (src/app.ts).
const TOKEN_ROLES = ['api', 'stream'];
// The app's defaults when the variables are unset (src/config).
const DEFAULT_DRAIN_DELAY_MS = 5000;
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 20000;

function hasKubectl(t: TestContext): boolean {
  if (!spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).error) return true;
  if (process.env.CI) assert.fail('kubectl (with kustomize) is required on CI');
  t.skip('kubectl not installed');
  return false;
}

function run(command: string, args: string[], input?: string): string {
  const result = spawnSync(command, args, { encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(result.status, 0, `${command} ${args.join(' ')} failed:\n${result.stderr}`);
  return result.stdout;
}

const rendered = new Map<string, K8sObject[]>();

/** The objects `kubectl kustomize <dir>` renders, parsed. */
function render(dir: string): K8sObject[] {
  const cached = rendered.get(dir);
  if (cached) return cached;
  const objects = parseAllDocuments(run('kubectl', ['kustomize', dir])).map(
    (doc) => doc.toJS() as K8sObject,
  );
  rendered.set(dir, objects);
  return objects;
}

const isWorkload = (o: K8sObject): boolean => o.kind === 'Deployment' || o.kind === 'StatefulSet';
const isApp = (o: K8sObject): boolean =>
  o.metadata.labels?.['app.kubernetes.io/name'] === 'trading-platform';
const podSpec = (o: K8sObject): PodSpec => {
  assert.ok(o.spec?.template, `${o.kind}/${o.metadata.name} has no pod template`);
  return o.spec.template.spec;
};
const appContainer = (o: K8sObject): Container => {
  const container = podSpec(o).containers.find((c) => c.name === 'app');
  assert.ok(container, `${o.kind}/${o.metadata.name} has no "app" container`);
  return container;
};
const appWorkloads = (dir: string): K8sObject[] =>
  render(dir).filter((o) => isWorkload(o) && isApp(o));

/** The environment the container will see: envFrom ConfigMaps in order, then env entries. */
function effectiveEnv(
  container: Container,
  objects: K8sObject[],
  where: string,
): Map<string, string> {
  const configMap = (name: string): Record<string, string> => {
    const found = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name);
    assert.ok(found, `${where}: ConfigMap ${name} is referenced but not rendered`);
    return found.data ?? {};
  };
  const env = new Map<string, string>();
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef)
      for (const [k, v] of Object.entries(configMap(source.configMapRef.name))) env.set(k, v);
  }
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom?.configMapKeyRef;
    const value = variable.value ?? (ref ? configMap(ref.name)[ref.key] : undefined);
    if (value !== undefined) env.set(variable.name, value);
  }
  return env;
}

/** How long the preStop hook holds SIGTERM back (a `sleep` command or sleep action). */
function preStopMs(container: Container): number {
  const hook = container.lifecycle?.preStop;
  if (hook === undefined) return 0;
  if (hook.sleep) return hook.sleep.seconds * 1000;
  const [command, seconds] = hook.exec?.command ?? [];
  assert.equal(command, 'sleep', `${container.name}: a preStop hook other than sleep`);
  return Number(seconds) * 1000;
}

const matches = (selector: Record<string, string>, labels: Record<string, string> = {}): boolean =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);

for (const dir of TARGETS) {
  test(`${dir}: renders the api and stream Deployments and the engine StatefulSet`, (t) => {
    if (!hasKubectl(t)) return;
    const workloads = appWorkloads(dir).map(
      (o) => `${o.kind}/${o.metadata.labels?.['app.kubernetes.io/component'] ?? ''}`,
    );
    assert.deepEqual(workloads.sort(), [
      'Deployment/api',
      'Deployment/stream',
      'StatefulSet/engine',
    ]);
  });

  test(`${dir}: every role probes /healthz for liveness and /readyz for readiness on a declared port`, (t) => {
    if (!hasKubectl(t)) return;
    for (const workload of appWorkloads(dir)) {
      const container = appContainer(workload);
      const ports = new Set((container.ports ?? []).flatMap((p) => [p.name, p.containerPort]));
      for (const [probe, path] of [
        [container.livenessProbe, '/healthz'],
        [container.readinessProbe, '/readyz'],
      ] as const) {
        assert.equal(probe?.httpGet?.path, path, `${workload.metadata.name}: probe path`);
        assert.ok(
          ports.has(probe.httpGet.port),
          `${workload.metadata.name}: probe port ${probe.httpGet.port} is not declared`,
        );
      }
    }
  });

  test(`${dir}: every role gets POD_NAME from metadata.name and ROLE matching its component`, (t) => {
    if (!hasKubectl(t)) return;
    for (const workload of appWorkloads(dir)) {
      const env = appContainer(workload).env ?? [];
      const podName = env.find((v) => v.name === 'POD_NAME');
      assert.equal(
        podName?.valueFrom?.fieldRef?.fieldPath,
        'metadata.name',
        `${workload.metadata.name}: POD_NAME`,
      );
      const role = env.find((v) => v.name === 'ROLE')?.value;
      assert.equal(role, workload.metadata.labels?.['app.kubernetes.io/component']);
      assert.ok(role && ROLES.includes(role));
    }
  });

  test(`${dir}: every grace period outlasts the drain delay plus the shutdown timeout`, (t) => {
    if (!hasKubectl(t)) return;
    const objects = render(dir);
    for (const workload of appWorkloads(dir)) {
      const name = workload.metadata.name;
      const env = effectiveEnv(appContainer(workload), objects, name);
      const drain = Number(env.get('SHUTDOWN_DRAIN_DELAY_MS') ?? DEFAULT_DRAIN_DELAY_MS);
      const timeout = Number(env.get('SHUTDOWN_TIMEOUT_MS') ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
      assert.ok(
        Number.isInteger(drain) && Number.isInteger(timeout),
        `${name}: shutdown settings are not integers`,
      );
      const grace = podSpec(workload).terminationGracePeriodSeconds;
      assert.ok(grace !== undefined, `${name}: terminationGracePeriodSeconds is not set`);
      const preStop = preStopMs(appContainer(workload));
      assert.ok(
        grace * 1000 > preStop + drain + timeout,
        `${name}: terminationGracePeriodSeconds ${grace}s must exceed preStop ${preStop}ms + drain ${drain}ms + timeout ${timeout}ms`,
      );
    }
  });

  test(`${dir}: every pod runs as non-root, read-only, without privilege escalation or capabilities`, (t) => {
    if (!hasKubectl(t)) return;
    for (const workload of render(dir).filter(isWorkload)) {
      const spec = podSpec(workload);
      for (const container of spec.containers) {
        const where = `${workload.metadata.name}/${container.name}`;
        const security = container.securityContext;
        const nonRoot = security?.runAsNonRoot ?? spec.securityContext?.runAsNonRoot;
        assert.equal(nonRoot, true, `${where}: runAsNonRoot`);
        assert.notEqual(spec.securityContext?.runAsUser, 0, `${where}: runAsUser 0`);
        assert.ok(security, `${where}: no securityContext`);
        assert.equal(
          security.allowPrivilegeEscalation,
          false,
          `${where}: allowPrivilegeEscalation`,
        );
        assert.equal(security.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
        assert.deepEqual(security.capabilities?.drop, ['ALL'], `${where}: capabilities.drop`);
      }
    }
  });

  test(`${dir}: every container requests CPU and memory and has a memory limit`, (t) => {
    if (!hasKubectl(t)) return;
    for (const workload of render(dir).filter(isWorkload)) {
      for (const container of podSpec(workload).containers) {
        const where = `${workload.metadata.name}/${container.name}`;
        const { requests = {}, limits = {} } = container.resources ?? {};
        assert.ok(requests.cpu, `${where}: cpu request`);
        assert.ok(requests.memory, `${where}: memory request`);
        assert.ok(limits.memory, `${where}: memory limit`);
      }
    }
  });

  test(`${dir}: every role that issues or verifies tokens mounts the one signing key pair`, (t) => {
    if (!hasKubectl(t)) return;
    const objects = render(dir);
    const keySources = new Set<string>();
    for (const workload of appWorkloads(dir)) {
      const role = workload.metadata.labels?.['app.kubernetes.io/component'] ?? '';
      if (!TOKEN_ROLES.includes(role)) continue;
      const where = workload.metadata.name;
      const container = appContainer(workload);
      const env = effectiveEnv(container, objects, where);
      assert.equal(env.get('AUTH_REQUIRE_KEY_FILES'), 'true', `${where}: AUTH_REQUIRE_KEY_FILES`);
      const files = ['AUTH_JWT_PUBLIC_KEY_FILE'].map((name) => {
        const file = env.get(name);
        assert.ok(file, `${where}: ${name} is unset, so the pod signs with a key of its own`);
        const mount = container.volumeMounts?.find((m) => file.startsWith(`${m.mountPath}/`));
        assert.ok(mount, `${where}: ${name}=${file} is on no mounted volume`);
        assert.equal(mount.subPath, undefined, `${where}: a subPath mount never sees a rotation`);
        const volume = podSpec(workload).volumes?.find((v) => v.name === mount.name);
        assert.ok(volume?.secret?.secretName, `${where}: ${file} is not from a Secret`);
        return `${volume.secret.secretName}:${file}`;
      });
      keySources.add(files.join(' '));
    }
    assert.equal(keySources.size, 1, `roles read different keys: ${[...keySources].join(', ')}`);
  });

  test(`${dir}: only the api holds the signing key; a stream pod gets the public key alone`, (t) => {
    if (!hasKubectl(t)) return;
    const objects = render(dir);
    for (const workload of appWorkloads(dir)) {
      const role = workload.metadata.labels?.['app.kubernetes.io/component'] ?? '';
      if (!TOKEN_ROLES.includes(role)) continue;
      const where = workload.metadata.name;
      const container = appContainer(workload);
      const privateKey = effectiveEnv(container, objects, where).get('AUTH_JWT_PRIVATE_KEY_FILE');
      const volume = podSpec(workload).volumes?.find((v) => v.name === 'jwt-keys');
      const files = volume?.secret?.items?.map((item) => item.key);
      if (role === 'api') {
        assert.ok(privateKey, `${where}: the api signs tokens and needs the private key`);
        assert.equal(files, undefined, `${where}: every key of the Secret is mounted`);
      } else {
        assert.equal(privateKey, undefined, `${where}: a ${role} pod only verifies tokens`);
        assert.deepEqual(files, ['public.pem'], `${where}: the signing key is not mounted`);
      }
    }
  });

  test(`${dir}: renders no Secret with literal data`, (t) => {
    if (!hasKubectl(t)) return;
    const secrets = render(dir).filter((o) => o.kind === 'Secret' && (o.data ?? o.stringData));
    assert.deepEqual(
      secrets.map((o) => o.metadata.name),
      [],
    );
  });

  test(`${dir}: app Services expose http 8080 and grpc 50051 with an appProtocol`, (t) => {
    if (!hasKubectl(t)) return;
    const services = render(dir).filter((o) => o.kind === 'Service' && isApp(o));
    assert.ok(services.length > 0);
    for (const service of services) {
      for (const port of service.spec?.ports ?? []) {
        assert.equal(
          port.port,
          { http: 8080, grpc: 50051 }[port.name],
          `${service.metadata.name}: port ${port.name}`,
        );
        assert.ok(
          port.appProtocol,
          `${service.metadata.name}: port ${port.name} has no appProtocol`,
        );
      }
    }
  });

  test(`${dir}: Services and PodDisruptionBudgets select pods, and the HPA scales the api`, (t) => {
    if (!hasKubectl(t)) return;
    const objects = render(dir);
    const podLabels = objects.filter(isWorkload).map((o) => o.spec?.template?.metadata?.labels);
    for (const o of objects.filter(
      (x) => x.kind === 'Service' || x.kind === 'PodDisruptionBudget',
    )) {
      const selector = (
        o.kind === 'Service' ? o.spec?.selector : o.spec?.selector?.matchLabels
      ) as Record<string, string>;
      assert.ok(
        podLabels.some((labels) => matches(selector, labels)),
        `${o.kind}/${o.metadata.name} selects no pod`,
      );
    }
    const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler');
    const target = objects.find(
      (o) =>
        o.kind === hpa?.spec?.scaleTargetRef?.kind &&
        o.metadata.name === hpa.spec.scaleTargetRef.name,
    );
    assert.equal(target?.metadata.labels?.['app.kubernetes.io/component'], 'api');
  });
}

test('the base sets no namespace, so overlays choose it', (t) => {
  if (!hasKubectl(t)) return;
  const namespaced = render('k8s/base').filter((o) => o.metadata.namespace);
  assert.deepEqual(
    namespaced.map((o) => `${o.kind}/${o.metadata.name}`),
    [],
  );
});

test('eks: the External Secrets Operator fills the signing key Secret the pods mount', (t) => {
  if (!hasKubectl(t)) return;
  const mounted = new Set(
    appWorkloads('k8s/overlays/eks').flatMap((o) =>
      (podSpec(o).volumes ?? []).map((v) => v.secret?.secretName),
    ),
  );
  const filled = render('k8s/overlays/eks')
    .filter((o) => o.kind === 'ExternalSecret')
    .map((o) => (o.spec as { target?: { name?: string } } | undefined)?.target?.name);
  assert.ok(mounted.has('trading-platform-jwt'));
  assert.ok(
    filled.includes('trading-platform-jwt'),
    'no ExternalSecret makes trading-platform-jwt',
  );
});

test('no Secret manifest or secretGenerator is committed under k8s/', () => {
  const files = readdirSync('k8s', { recursive: true, encoding: 'utf8' }).filter((f) =>
    /\.ya?ml$/.test(f),
  );
  for (const file of files) {
    const text = readFileSync(join('k8s', file), 'utf8');
    assert.doesNotMatch(text, /^kind:\s*Secret\s*$/m, `${file} commits a Secret`);
    assert.doesNotMatch(
      text,
      /^secretGenerator:/m,
      `${file} generates a Secret from committed data`,
    );
  }
});

test('eks: gRPC goes through an ALB target group with protocol version GRPC and a gRPC health check', (t) => {
  if (!hasKubectl(t)) return;
  const ingresses = render('k8s/overlays/eks').filter((o) => o.kind === 'Ingress');
  const grpc = ingresses.find(
    (o) =>
      o.metadata.annotations?.['alb.ingress.kubernetes.io/backend-protocol-version'] === 'GRPC',
  );
  assert.ok(grpc, 'no Ingress with backend-protocol-version GRPC');
  assert.equal(
    grpc.metadata.annotations?.['alb.ingress.kubernetes.io/healthcheck-path'],
    '/grpc.health.v1.Health/Check',
  );
  const ports = grpc.spec?.rules?.flatMap((rule) =>
    rule.http.paths.map((p) => p.backend.service.port.name),
  );
  assert.deepEqual([...new Set(ports)], ['grpc']);
  const http = ingresses.find(
    (o) =>
      o.metadata.annotations?.['alb.ingress.kubernetes.io/backend-protocol-version'] === 'HTTP1',
  );
  assert.equal(
    http?.metadata.annotations?.['alb.ingress.kubernetes.io/healthcheck-path'],
    '/readyz',
  );
});

test('eks: the pods behind the ALB trust its X-Forwarded-For; no other target trusts any', (t) => {
  if (!hasKubectl(t)) return;
  for (const dir of TARGETS) {
    for (const workload of appWorkloads(dir)) {
      const env = effectiveEnv(appContainer(workload), render(dir), workload.metadata.name);
      const trusted = loadConfig({
        TRUSTED_PROXIES: env.get('TRUSTED_PROXIES') ?? '',
      }).trustedProxies;
      if (dir === 'k8s/overlays/eks') {
        assert.ok(trusted.length > 0, `${workload.metadata.name}: no TRUSTED_PROXIES`);
      } else {
        assert.deepEqual(trusted, [], `${dir} ${workload.metadata.name}`);
      }
    }
  }
});

test('eks: the service account is bound to an IAM role (IRSA)', (t) => {
  if (!hasKubectl(t)) return;
  const account = render('k8s/overlays/eks').find((o) => o.kind === 'ServiceAccount');
  assert.match(
    account?.metadata.annotations?.['eks.amazonaws.com/role-arn'] ?? '',
    /^arn:aws:iam::/,
  );
});

test('eks: every role spreads across zones', (t) => {
  if (!hasKubectl(t)) return;
  for (const workload of appWorkloads('k8s/overlays/eks')) {
    const zone = podSpec(workload).topologySpreadConstraints?.find(
      (c) => c.topologyKey === 'topology.kubernetes.io/zone',
    );
    assert.equal(
      zone?.whenUnsatisfiable,
      'DoNotSchedule',
      `${workload.metadata.name}: zone spread`,
    );
  }
});

test('eks: a PodMonitor scrapes the app pods as job "trading-platform"', (t) => {
  if (!hasKubectl(t)) return;
  const objects = render('k8s/overlays/eks');
  const monitor = objects.find((o) => o.kind === 'PodMonitor') as
    | (K8sObject & {
        spec: { jobLabel: string; selector: { matchLabels: Record<string, string> } };
      })
    | undefined;
  assert.ok(monitor, 'no PodMonitor');
  for (const workload of appWorkloads('k8s/overlays/eks')) {
    const labels = workload.spec?.template?.metadata?.labels;
    assert.ok(
      matches(monitor.spec.selector.matchLabels, labels),
      `${workload.metadata.name} is not scraped`,
    );
    assert.match(labels?.[monitor.spec.jobLabel] ?? '', /^trading-platform/);
  }
});

// --- The stream role, held to the code: ports, probe paths, env names, the drain window ------

/** Every variable src/config reads (the keys of its env schema). */
const CONFIG_VARIABLES = new Set(
  [...readFileSync('src/config/config.ts', 'utf8').matchAll(/^ {2}([A-Z][A-Z0-9_]+): /gm)].map(
    ([, name = '']) => name,
  ),
);
/** Variables read before src/config (Node itself, the OpenTelemetry SDK). */
const RUNTIME_VARIABLES = new Set(['NODE_OPTIONS', 'OTEL_EXPORTER_OTLP_ENDPOINT']);

const streamWorkload = (dir: string): K8sObject => {
  const found = appWorkloads(dir).find(
    (o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'stream',
  );
  assert.ok(found, `${dir}: no stream Deployment`);
  return found;
};

/** The PodMonitor's scrape interval and timeout (components/monitoring), in ms. */
function podMonitorEndpoint(): { interval: number; scrapeTimeout: number } {
  const [monitor] = parseAllDocuments(
    readFileSync('k8s/components/monitoring/podmonitor.yaml', 'utf8'),
  ).map(
    (doc) =>
      doc.toJS() as {
        spec: { podMetricsEndpoints: { interval: string; scrapeTimeout: string }[] };
      },
  );
  const [endpoint] = monitor?.spec.podMetricsEndpoints ?? [];
  assert.ok(endpoint, 'the PodMonitor has an endpoint');
  const ms = (duration: string) => {
    const seconds = /^(\d+)s$/.exec(duration)?.[1];
    assert.ok(seconds !== undefined, `${duration}: expected whole seconds`);
    return Number(seconds) * 1000;
  };
  return { interval: ms(endpoint.interval), scrapeTimeout: ms(endpoint.scrapeTimeout) };
}

/** preStop + drain delay + shutdown timeout of the stream pods in `dir`, in ms. */
function streamDrainWindowMs(dir: string): number {
  const workload = streamWorkload(dir);
  const env = effectiveEnv(appContainer(workload), render(dir), workload.metadata.name);
  return (
    preStopMs(appContainer(workload)) +
    Number(env.get('SHUTDOWN_DRAIN_DELAY_MS') ?? DEFAULT_DRAIN_DELAY_MS) +
    Number(env.get('SHUTDOWN_TIMEOUT_MS') ?? DEFAULT_SHUTDOWN_TIMEOUT_MS)
  );
}

for (const dir of TARGETS) {
  test(`${dir}: the stream role listens where the app does and probes paths the app serves`, (t) => {
    if (!hasKubectl(t)) return;
    const config = loadConfig({});
    const container = appContainer(streamWorkload(dir));
    const ports: Record<string, number> = Object.fromEntries(
      (container.ports ?? []).map((p) => [p.name ?? '', p.containerPort]),
    );
    assert.deepEqual(ports, { http: config.http.port, grpc: config.grpc.port });
    const server = readFileSync('src/transport/http/server.ts', 'utf8');
    for (const probe of [container.livenessProbe, container.readinessProbe]) {
      const path = probe?.httpGet?.path ?? '';
      assert.ok(server.includes(`app.get('${path}'`), `the app serves no ${path}`);
    }
    const service = render(dir).find(
      (o) => o.kind === 'Service' && o.metadata.name === 'trading-platform-stream',
    );
    assert.deepEqual(
      (service?.spec?.ports ?? []).map((p) => [p.name, p.port]),
      [
        ['http', config.http.port],
        ['grpc', config.grpc.port],
      ],
    );
  });

  test(`${dir}: every variable set for the stream role is one the app reads`, (t) => {
    if (!hasKubectl(t)) return;
    assert.ok(CONFIG_VARIABLES.has('SHUTDOWN_TIMEOUT_MS') && CONFIG_VARIABLES.size > 40);
    const workload = streamWorkload(dir);
    const env = effectiveEnv(appContainer(workload), render(dir), workload.metadata.name);
    const names = [...env.keys(), ...(appContainer(workload).env ?? []).map((v) => v.name)];
    const unknown = names.filter((n) => !CONFIG_VARIABLES.has(n) && !RUNTIME_VARIABLES.has(n));
    assert.deepEqual([...new Set(unknown)], [], 'set in the manifests, read by nothing');
    // The settings the drain depends on are the app's own (a typo would fall back silently).
    for (const name of ['ROLE', 'POD_NAME', 'SHUTDOWN_TIMEOUT_MS']) assert.ok(names.includes(name));
  });

  test(`${dir}: the stream role drains within its grace period, behind a preStop, a PDB and a spread`, (t) => {
    if (!hasKubectl(t)) return;
    const workload = streamWorkload(dir);
    const spec = podSpec(workload);
    const window = streamDrainWindowMs(dir);
    assert.ok(preStopMs(appContainer(workload)) > 0, 'a preStop hook');
    const grace = (spec.terminationGracePeriodSeconds ?? 0) * 1000;
    assert.ok(grace >= 120_000, `a long grace period (${grace} ms)`);
    assert.ok(grace > window, `grace ${grace} ms must exceed the drain window ${window} ms`);
    // The drain alert fires after the window and before the kubelet's SIGKILL.
    const rules = readFileSync('alerts/streams.rules.yml', 'utf8');
    const alertAfter = /min_over_time\(shutdown_phase\{[^}]*\}\[(\d+)s\]\)/.exec(rules)?.[1];
    const preStop = preStopMs(appContainer(workload));
    assert.ok(alertAfter !== undefined);
    // The "scraped that long ago" term covers the same span as the window.
    const offset = /shutdown_phase\{[^}]*\} offset (\d+)s/.exec(rules)?.[1];
    assert.equal(offset, alertAfter, 'the offset term matches the window');
    assert.ok(
      window - preStop < Number(alertAfter) * 1000 && Number(alertAfter) * 1000 < grace - preStop,
      `TradingPlatformStreamDrainTooLong after ${alertAfter}s: between the app's window and the SIGKILL`,
    );

    const pdb = render(dir).find(
      (o) =>
        o.kind === 'PodDisruptionBudget' &&
        matches(
          (o.spec?.selector as { matchLabels: Record<string, string> }).matchLabels,
          workload.spec?.template?.metadata?.labels,
        ),
    );
    assert.ok(pdb, 'a PodDisruptionBudget for the stream pods');
    assert.equal(pdb.spec?.maxUnavailable, 1);
    const spread = spec.topologySpreadConstraints?.find(
      (c) => c.topologyKey === 'kubernetes.io/hostname',
    );
    assert.equal(spread?.labelSelector?.matchLabels?.['app.kubernetes.io/component'], 'stream');
  });

  test(`${dir}: a drained stream pod waits for a last scrape, within its shutdown deadline`, (t) => {
    if (!hasKubectl(t)) return;
    const workload = streamWorkload(dir);
    const env = effectiveEnv(appContainer(workload), render(dir), workload.metadata.name);
    // loadConfig refuses a linger that, with the drain window, leaves the servers, shards and
    // pools too little of SHUTDOWN_TIMEOUT_MS; the grace period covers that deadline (above).
    const config = loadConfig(
      Object.fromEntries(
        [...env].filter(([name]) => !/^(TLS_|AUTH_JWT_|AUTH_REQUIRE_KEY_FILES$)/.test(name)),
      ),
    );
    // A scrape begins within one interval of the drain's end and answers within its timeout.
    const { interval, scrapeTimeout } = podMonitorEndpoint();
    const linger = config.streams.drainLingerMs;
    assert.ok(
      linger >= interval + scrapeTimeout,
      `STREAM_DRAIN_LINGER_MS ${linger} ms must outlast a scrape interval (${interval} ms) and its timeout (${scrapeTimeout} ms)`,
    );
    // A drain that takes its whole window and waits its whole linger is no drain past its
    // window: TradingPlatformStreamDrainTooLong stays quiet.
    const rules = readFileSync('alerts/streams.rules.yml', 'utf8');
    const alertAfter = Number(
      /min_over_time\(shutdown_phase\{[^}]*\}\[(\d+)s\]\)/.exec(rules)?.[1],
    );
    const drainEnd = config.shutdown.drainDelayMs + config.streams.drainWindowMs + linger;
    assert.ok(drainEnd < alertAfter * 1000, `drain and linger end ${drainEnd} ms after SIGTERM`);
  });
}

test('eks: /ws and the gRPC-Web/Connect stream services go to the stream role, behind long ALB timeouts', (t) => {
  if (!hasKubectl(t)) return;
  const objects = render('k8s/overlays/eks');
  const ingresses = objects.filter((o) => o.kind === 'Ingress');
  const http = ingresses.find(
    (o) =>
      o.metadata.annotations?.['alb.ingress.kubernetes.io/backend-protocol-version'] === 'HTTP1',
  );
  const routes = new Map(
    (http?.spec?.rules ?? []).flatMap((rule) =>
      rule.http.paths.map((p) => [p.path, p.backend.service] as const),
    ),
  );
  for (const path of ['/ws', '/trading.v1.MarketDataService', '/trading.v1.SessionService']) {
    assert.deepEqual(routes.get(path), {
      name: 'trading-platform-stream',
      port: { name: 'http' },
    });
  }

  // One ALB: the same idle timeout on every Ingress of the group, above every interval at
  // which a quiet stream still sends something (gRPC keepalive pings, stream heartbeats).
  const idle = new Set(
    ingresses.map(
      (o) => o.metadata.annotations?.['alb.ingress.kubernetes.io/load-balancer-attributes'],
    ),
  );
  assert.equal(idle.size, 1);
  const idleSeconds = Number(/idle_timeout\.timeout_seconds=(\d+)/.exec([...idle][0] ?? '')?.[1]);
  // The stream pods' own settings, as the app reads them from their environment.
  const stream = streamWorkload('k8s/overlays/eks');
  // Certificate and signing key files exist only in the pod; the intervals checked here do not
  // depend on them.
  const env = effectiveEnv(appContainer(stream), objects, stream.metadata.name);
  const config = loadConfig(
    Object.fromEntries(
      [...env].filter(([name]) => !/^(TLS_|AUTH_JWT_|AUTH_REQUIRE_KEY_FILES$)/.test(name)),
    ),
  );
  for (const interval of [
    config.grpc.connections.keepaliveTimeMs ?? 0,
    config.streams.heartbeat.intervalMs,
  ])
    assert.ok(idleSeconds * 1000 > 2 * interval, `ALB idle ${idleSeconds}s vs ${interval} ms`);

  // A deregistered stream target keeps its connections until the delay ends: past the drain.
  const service = objects.find(
    (o) => o.kind === 'Service' && o.metadata.name === 'trading-platform-stream',
  );
  const delay = Number(
    /deregistration_delay\.timeout_seconds=(\d+)/.exec(
      service?.metadata.annotations?.['alb.ingress.kubernetes.io/target-group-attributes'] ?? '',
    )?.[1],
  );
  const window = streamDrainWindowMs('k8s/overlays/eks');
  const grace =
    (podSpec(streamWorkload('k8s/overlays/eks')).terminationGracePeriodSeconds ?? 0) * 1000;
  assert.ok(delay * 1000 >= window && delay * 1000 <= grace, `deregistration delay ${delay}s`);

  // A gRPC-Web client's unary Pong must reach the pod that holds its stream.
  assert.match(
    service?.metadata.annotations?.['alb.ingress.kubernetes.io/target-group-attributes'] ?? '',
    /stickiness\.enabled=true,stickiness\.type=lb_cookie/,
  );
});

test('docs/deploy-eks.md states the CloudFront origin timeouts against the ALB and heartbeats', () => {
  const doc = readFileSync('docs/deploy-eks.md', 'utf8');
  for (const setting of ['origin response timeout', 'keep-alive timeout', 'idle timeout'])
    assert.ok(doc.toLowerCase().includes(setting), setting);
});

/** A cert-manager resource as rendered. */
interface CertManagerObject {
  kind: string;
  metadata: { name: string };
  spec: {
    secretName?: string;
    isCA?: boolean;
    usages?: string[];
    dnsNames?: string[];
    renewBefore?: string;
    issuerRef?: { name: string; kind: string };
    ca?: { secretName: string };
  };
}

test('eks: cert-manager issues one internal certificate, from a CA of its own, for serving and calling', (t) => {
  if (!hasKubectl(t)) return;
  const objects = render('k8s/overlays/eks');
  const byName = (kind: string, name: string) =>
    objects.find((o) => o.kind === kind && o.metadata.name === name) as unknown as
      CertManagerObject | undefined;
  const leaf = byName('Certificate', 'trading-platform-internal');
  assert.ok(leaf, 'no Certificate trading-platform-internal');
  assert.deepEqual(leaf.spec.usages?.filter((u) => u.endsWith(' auth')).sort(), [
    'client auth',
    'server auth',
  ]);
  // The name the api's engine client dials must be in the certificate.
  const api = appWorkloads('k8s/overlays/eks').find((w) => w.metadata.name.endsWith('-api'));
  assert.ok(api);
  const target = effectiveEnv(appContainer(api), objects, 'api').get('ENGINE_ADDRESS') ?? '';
  const host = /^dns:\/\/\/([^:]+):/.exec(target)?.[1];
  assert.ok(host !== undefined && leaf.spec.dnsNames?.includes(host), `${host} not in dnsNames`);
  const issuer = byName('Issuer', leaf.spec.issuerRef?.name ?? '');
  const ca = byName('Certificate', 'trading-platform-ca');
  assert.equal(ca?.spec.isCA, true);
  assert.equal(issuer?.spec.ca?.secretName, ca.spec.secretName);
});

test('eks: every role serves TLS from the certificate Secret, mounted so renewals reach it', (t) => {
  if (!hasKubectl(t)) return;
  const objects = render('k8s/overlays/eks');
  const leaf = objects.find(
    (o) => o.kind === 'Certificate' && o.metadata.name === 'trading-platform-internal',
  ) as unknown as CertManagerObject | undefined;
  for (const workload of appWorkloads('k8s/overlays/eks')) {
    const name = workload.metadata.name;
    const container = appContainer(workload);
    const env = effectiveEnv(container, objects, name);
    assert.equal(env.get('TLS_MODE'), 'files', name);
    const volume = podSpec(workload).volumes?.find(
      (v) => v.secret?.secretName === leaf?.spec.secretName,
    );
    assert.ok(volume, `${name}: the certificate Secret is not a volume`);
    const mount = container.volumeMounts?.find((m) => m.name === volume.name);
    assert.ok(mount, `${name}: the certificate Secret is not mounted`);
    assert.equal(mount.subPath, undefined, `${name}: a subPath mount is never updated`);
    for (const variable of ['TLS_CERT_FILE', 'TLS_KEY_FILE', 'TLS_CA_FILE']) {
      assert.ok(env.get(variable)?.startsWith(`${mount.mountPath}/`), `${name}: ${variable}`);
    }
    for (const probe of [
      container.livenessProbe,
      container.readinessProbe,
      container.startupProbe,
    ]) {
      assert.equal(probe?.httpGet?.scheme, 'HTTPS', `${name}: a probe is not over HTTPS`);
    }
  }
});

test('eks: the ALB reaches the pods over TLS', (t) => {
  if (!hasKubectl(t)) return;
  const ingresses = render('k8s/overlays/eks').filter((o) => o.kind === 'Ingress');
  assert.ok(ingresses.length > 0);
  for (const ingress of ingresses) {
    const annotations = ingress.metadata.annotations ?? {};
    assert.equal(annotations['alb.ingress.kubernetes.io/backend-protocol'], 'HTTPS');
    assert.equal(annotations['alb.ingress.kubernetes.io/healthcheck-protocol'], 'HTTPS');
  }
});
