package realnode

import (
	"fmt"
	"os"
	"path/filepath"
)

// The node's fixed names and addresses. Only one node runs on a machine at
// a time (the names are global), and every address is in 198.18.0.0/15,
// which RFC 2544 sets aside for test networks.
const (
	NodeName        = "tokenhook-node"
	NodeIP          = "198.19.255.1"  // on the portless bridge nodeLink
	PodCIDR         = "198.18.0.0/24" // the bridge; one node, one range
	ClusterCIDR     = "198.18.0.0/16" // what kube-proxy treats as pod traffic
	ServiceCIDR     = "198.19.0.0/17" // ClusterIPs
	KubernetesSvc   = "198.19.0.1"    // the first ClusterIP: the API server's Service
	PauseImage      = "tokenhook.local/pause:1"
	nodeLink        = "thnode0"
	bridgeLink      = "thbr0"
	cniNetwork      = "tokenhook-pods"
	defaultStateDir = "/var/lib/tokenhook-node"
)

// containerdConfig keeps every containerd folder and socket under dir, so
// the node shares nothing with a containerd the machine may already run.
func containerdConfig(dir string) string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # Root here lacks CAP_SYS_RESOURCE: runc cannot lower a process's
  # oom_score_adj below its own, and every sandbox failed without this.
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %[7]q

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[8]q
    max_conf_num = 1
`, filepath.Join(dir, "containerd", "root"), filepath.Join(dir, "containerd", "state"),
		containerdSocket(dir), filepath.Join(dir, "containerd", "ttrpc.sock"),
		filepath.Join(dir, "containerd", "opt"), PauseImage, filepath.Join(dir, "containerd", "runc"),
		filepath.Join(dir, "cni", "net.d"))
}

func containerdSocket(dir string) string { return filepath.Join(dir, "containerd", "containerd.sock") }

// cniConfig is one bridge for the node's pods. No IP masquerade and no
// port mappings: pods talk only to this machine, so no NAT rules are needed.
func cniConfig(dir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": %q,
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
`, cniNetwork, bridgeLink, filepath.Join(dir, "cni", "ipam"), PodCIDR)
}

// kubeletConfig is the KubeletConfiguration. The settings that matter on
// this machine kind: cgroup v1 allowed (v1.37 only warns), cgroupfs, swap
// tolerated, eviction and image GC thresholds loosened (a locally imported
// image must never be collected: nothing can pull it back), and no resolver
// configuration, so no pod ever asks the machine's DNS server anything.
func kubeletConfig(dir, caFile string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 0
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %[2]q
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://%[3]s
resolvConf: ""
clusterDomain: cluster.local
podCIDR: %[4]s
maxPods: 60
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
imageMinimumGCAge: 87600h
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%%"
  nodefs.inodesFree: "1%%"
  imagefs.available: "1%%"
evictionPressureTransitionPeriod: 10s
protectKernelDefaults: false
makeIPTablesUtilChains: true
registerNode: true
shutdownGracePeriod: 0s
staticPodPath: ""
syncFrequency: 10s
fileCheckFrequency: 20s
nodeStatusReportFrequency: 10s
tlsCertFile: ""
volumePluginDir: %[5]q
`, NodeIP, caFile, containerdSocket(dir), PodCIDR, filepath.Join(dir, "kubelet", "volume-plugins"))
}

// kubeProxyConfig is the KubeProxyConfiguration: iptables mode, and every
// conntrack setting that would write a sysctl turned off, as is the
// localhost NodePort feature (it sets route_localnet).
func kubeProxyConfig(kubeconfig string, healthzPort, metricsPort int) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %q
hostnameOverride: %s
mode: iptables
clusterCIDR: %s
bindAddress: %s
healthzBindAddress: 127.0.0.1:%d
metricsBindAddress: 127.0.0.1:%d
nodePortAddresses: ["%s/32"]
iptables:
  localhostNodePorts: false
  syncPeriod: 10s
  minSyncPeriod: 0s
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
  udpTimeout: 0s
  udpStreamTimeout: 0s
`, kubeconfig, NodeName, ClusterCIDR, NodeIP, healthzPort, metricsPort, NodeIP)
}

// kubeconfig writes a kubeconfig for one client certificate.
func writeKubeconfig(path, server, caFile, certFile, keyFile string) error {
	return os.WriteFile(path, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: tokenhook-node
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: user
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: tokenhook-node
  context:
    cluster: tokenhook-node
    user: user
current-context: tokenhook-node
`, server, caFile, certFile, keyFile)), 0o600)
}
