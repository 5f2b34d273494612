package kube

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"

	apierrors "github.com/pipe-run/pipe/kube/internal/k8s/apierrors"
	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
	metav1 "github.com/pipe-run/pipe/kube/internal/k8s/metav1"
	"github.com/pipe-run/pipe/kube/internal/k8s/types"
)

// The keys of the run's Secret. It is of type kubernetes.io/dockerconfigjson
// so that the kubelet can pull the agent image (and steps' images) from the
// cache registry with the same credentials the agents use.
const (
	SecretKeyRegistryConfig = "registry-config.json" // mounted as config.json into the agents
	SecretKeyRegistryCA     = "registry-ca.pem"      // optional
	secretKeyEnvPrefix      = "env-"                 // env-<pod>-<NAME>: a step's secret value
)

// secretName is the name of a run's Secret.
func secretName(runID string) string {
	return "pipe-" + dnsLabel(runID, 58)
}

// secretEnvKey is the Secret key of secret env var name of one pod. Keys
// are per pod so that each attempt's values leave the Secret with its pod.
func secretEnvKey(pod, name string) string {
	k := secretKeyEnvPrefix + pod + "-" + name
	if len(k) > 253 {
		return withHash(k[:200], k, 253, "-")
	}
	return k
}

// secretEnvData is a step's secret values under their keys.
func secretEnvData(pod string, secrets map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(secrets))
	for name, v := range secrets {
		out[secretEnvKey(pod, name)] = []byte(v)
	}
	return out
}

// secretState is the run's Secret as this Backend made it.
type secretState struct {
	mu   sync.Mutex
	made bool      // created (or adopted) by this Backend
	uid  types.UID // its UID, for owner references
}

func (s *secretState) forget() {
	s.mu.Lock()
	s.made, s.uid = false, ""
	s.mu.Unlock()
}

// buildSecret is the run's Secret with its first data.
func (b *Backend) buildSecret(env map[string][]byte) *corev1.Secret {
	cfg := b.cfg.RegistryConfig
	if len(cfg) == 0 {
		cfg = []byte(`{"auths":{}}`)
	}
	data := map[string][]byte{corev1.DockerConfigJsonKey: cfg, SecretKeyRegistryConfig: cfg}
	if len(b.cfg.RegistryCA) > 0 {
		data[SecretKeyRegistryCA] = b.cfg.RegistryCA
	}
	for k, v := range env {
		data[k] = v
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: secretName(b.cfg.RunID), Labels: runLabels(b.cfg.RunID),
			Annotations: map[string]string{AnnotationHost: b.host},
		},
		Type: corev1.SecretTypeDockerConfigJson,
		Data: data,
	}
}

// ensureSecret creates the run's Secret the first time, with env in it, or
// adds env to it. It returns the Secret's UID (pods name it their owner,
// so that deleting the Secret also collects them).
func (b *Backend) ensureSecret(ctx context.Context, env map[string][]byte) (types.UID, error) {
	b.secret.mu.Lock()
	defer b.secret.mu.Unlock()
	if !b.secret.made {
		sec, err := b.client.createSecret(ctx, b.ns, b.buildSecret(env))
		if err == nil {
			b.secret.made, b.secret.uid = true, sec.UID
			return sec.UID, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("kubernetes: %s: create the run's Secret %s in namespace %s: %w", b.where, secretName(b.cfg.RunID), b.ns, err)
		}
		if err := b.adoptSecret(ctx); err != nil {
			return "", err
		}
	}
	if len(env) == 0 {
		return b.secret.uid, nil
	}
	return b.secret.uid, b.patchSecret(ctx, env)
}

// adoptSecret takes over a Secret of the same name that this run made
// (New after a Close, or two Backends of one run). One of another run is
// an error: the run IDs collide.
func (b *Backend) adoptSecret(ctx context.Context) error {
	name := secretName(b.cfg.RunID)
	sec, err := b.client.getSecret(ctx, b.ns, name)
	if err != nil {
		return fmt.Errorf("kubernetes: %s: read the run's Secret %s: %w", b.where, name, err)
	}
	if sec.Labels[LabelRun] != b.cfg.RunID || sec.Labels[LabelManagedBy] != ManagedByPipe {
		return fmt.Errorf("kubernetes: Secret %s in namespace %s exists and is not this run's (run label %q): remove it or use another run ID", name, b.ns, sec.Labels[LabelRun])
	}
	b.secret.made, b.secret.uid = true, sec.UID
	// Refresh what New was given: the registry credentials may be new.
	fresh := b.buildSecret(nil)
	return b.patchSecret(ctx, fresh.Data)
}

// patchSecret sets keys of the Secret; a nil value removes the key. A JSON
// merge patch leaves the other keys alone, so parallel Runs do not race.
func (b *Backend) patchSecret(ctx context.Context, data map[string][]byte) error {
	enc := make(map[string]any, len(data))
	for k, v := range data {
		if v == nil {
			enc[k] = nil
			continue
		}
		enc[k] = base64.StdEncoding.EncodeToString(v)
	}
	patch, err := json.Marshal(map[string]any{"data": enc})
	if err != nil {
		return fmt.Errorf("kubernetes: encode the Secret's patch: %w", err)
	}
	name := secretName(b.cfg.RunID)
	if err := b.client.patchSecret(ctx, b.ns, name, patch); err != nil {
		// The error of a patch names keys at most, never values.
		return fmt.Errorf("kubernetes: %s: update the run's Secret %s: %w", b.where, name, err)
	}
	return nil
}

// dropSecretEnv removes a finished pod's secret values from the Secret.
func (b *Backend) dropSecretEnv(ctx context.Context, pod string, secrets map[string]string) error {
	if len(secrets) == 0 {
		return nil
	}
	b.secret.mu.Lock()
	defer b.secret.mu.Unlock()
	if !b.secret.made {
		return nil
	}
	data := make(map[string][]byte, len(secrets))
	for name := range secrets {
		data[secretEnvKey(pod, name)] = nil
	}
	return b.patchSecret(ctx, data)
}
