// Where routing configs come from, hot-reloaded: a local file (polled) or a ConfigMap (Kubernetes watch). Both hand
// raw text to one apply function. A config that does not parse is logged and the previous one stays in force; a
// deleted file or ConfigMap also keeps the last good config.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ConfigMapKey is the key of the routing ConfigMap that holds router.json.
const ConfigMapKey = "router.json"

// ApplyText takes a config's raw text and where it came from.
type ApplyText func(text []byte, origin string)

// WatchFile polls the file's (mtime, size, inode) every interval until ctx is done: cheap, portable, and robust to
// editors that replace the file.
func WatchFile(ctx context.Context, path string, apply ApplyText, interval time.Duration) {
	type seen struct {
		mtime   int64
		size    int64
		inode   uint64
		present bool
	}
	var last seen
	check := func() {
		info, err := os.Stat(path)
		if err != nil {
			if last.present {
				slog.Warn("routing config disappeared; keeping the last good config", "path", path)
				last = seen{}
			}
			return
		}
		var inode uint64
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			inode = st.Ino
		}
		now := seen{info.ModTime().UnixNano(), info.Size(), inode, true}
		if now == last {
			return
		}
		last = now
		text, err := os.ReadFile(path)
		if err != nil {
			slog.Error("cannot read routing config", "path", path, "error", err)
			return
		}
		apply(text, "file "+path)
	}
	check()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			check()
		}
	}
}

// KubeConfig: the kubeconfig file given, else $KUBECONFIG, else the pod's own ServiceAccount.
func KubeConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		kubeconfig = os.Getenv("KUBECONFIG")
	}
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return rest.InClusterConfig()
}

// WatchConfigMap lists and watches one ConfigMap until ctx is done and applies its router.json. API server restarts
// and expired resource versions: it lists again after a pause.
func WatchConfigMap(ctx context.Context, client kubernetes.Interface, namespace, name string, apply ApplyText) {
	configMaps := client.CoreV1().ConfigMaps(namespace)
	selector := fields.OneTermEqualSelector("metadata.name", name).String()
	deliver := func(cm *corev1.ConfigMap) {
		origin := fmt.Sprintf("configmap %s/%s rv=%s", namespace, name, cm.ResourceVersion)
		text, ok := cm.Data[ConfigMapKey]
		if !ok {
			slog.Error("routing ConfigMap has no router.json; keeping the last good config", "origin", origin)
			return
		}
		apply([]byte(text), origin)
	}
	timeout := int64(20)
	for ctx.Err() == nil {
		if err := func() error {
			listing, err := configMaps.List(ctx, metav1.ListOptions{FieldSelector: selector})
			if err != nil {
				return err
			}
			for i := range listing.Items {
				deliver(&listing.Items[i])
			}
			watcher, err := configMaps.Watch(ctx, metav1.ListOptions{FieldSelector: selector,
				ResourceVersion: listing.ResourceVersion, TimeoutSeconds: &timeout})
			if err != nil {
				return err
			}
			defer watcher.Stop()
			for event := range watcher.ResultChan() {
				switch event.Type {
				case watch.Added, watch.Modified:
					if cm, ok := event.Object.(*corev1.ConfigMap); ok {
						deliver(cm)
					}
				case watch.Deleted:
					slog.Warn("routing ConfigMap deleted; keeping the last good config", "configmap",
						namespace+"/"+name)
				case watch.Error:
					return fmt.Errorf("watch error: %v", event.Object)
				}
			}
			return nil
		}(); err != nil && ctx.Err() == nil {
			slog.Warn("ConfigMap watch failed; retrying", "configmap", namespace+"/"+name, "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	}
}
