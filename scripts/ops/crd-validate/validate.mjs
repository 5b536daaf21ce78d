// Reads a JSON array of Kubernetes resources on stdin and validates the custom resources among them with the
// validators that @kubernetes-models generates from the KEDA and Prometheus Operator CRDs' OpenAPI schemas.
// Prints a JSON array: {kind, name, errors} for every resource of a known kind; errors is empty when valid.
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

const MODELS = {
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule,
};

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const resource of JSON.parse(input)) {
  const Model = MODELS[`${resource.apiVersion}/${resource.kind}`];
  if (!Model) continue;
  const errors = [];
  try {
    new Model(resource).validate();
  } catch (err) {
    errors.push(String(err.message ?? err));
  }
  results.push({ kind: resource.kind, name: resource.metadata?.name ?? "", errors });
}
process.stdout.write(JSON.stringify(results));
