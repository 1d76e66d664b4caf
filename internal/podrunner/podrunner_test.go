package podrunner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestSupportedRefusesWhatItCannotHonour(t *testing.T) {
	ok := corev1.PodSpec{
		Containers: []corev1.Container{{Name: "c", Command: []string{"/bin"},
			VolumeMounts: []corev1.VolumeMount{{Name: "v", MountPath: "/etc/v"}}}},
		Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}},
	}
	cases := map[string]struct {
		mutate func(*corev1.PodSpec)
		want   string
	}{
		"supported":      {mutate: func(*corev1.PodSpec) {}},
		"init container": {mutate: func(s *corev1.PodSpec) { s.InitContainers = s.Containers }, want: "init or ephemeral"},
		"two containers": {mutate: func(s *corev1.PodSpec) { s.Containers = append(s.Containers, s.Containers[0]) }, want: "2 containers"},
		"hostPath volume": {mutate: func(s *corev1.PodSpec) {
			s.Volumes[0].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}
		}, want: `volume "v"`},
		"no command": {mutate: func(s *corev1.PodSpec) { s.Containers[0].Command = nil }, want: "no command"},
		"subPath":    {mutate: func(s *corev1.PodSpec) { s.Containers[0].VolumeMounts[0].SubPath = "x" }, want: "subPath"},
		"env valueFrom": {mutate: func(s *corev1.PodSpec) {
			s.Containers[0].Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{}}}
		}, want: "valueFrom"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			spec := *ok.DeepCopy()
			tc.mutate(&spec)
			err := supported(&spec)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestAtomicWriteLaysOutFilesLikeKubelet(t *testing.T) {
	dir := t.TempDir()
	if err := atomicWrite(dir, map[string][]byte{"a.csv": []byte("one"), "b": []byte("x")}); err != nil {
		t.Fatal(err)
	}
	first, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil || !strings.HasPrefix(first, "..") {
		t.Fatalf("..data link = %q, %v", first, err)
	}
	if target, _ := os.Readlink(filepath.Join(dir, "a.csv")); target != "..data/a.csv" {
		t.Errorf("a.csv links to %q, want ..data/a.csv", target)
	}
	if err := atomicWrite(dir, map[string][]byte{"a.csv": []byte("two")}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "a.csv"))
	if err != nil || string(got) != "two" {
		t.Errorf("a.csv = %q, %v; want the new content", got, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "b")); !os.IsNotExist(err) {
		t.Errorf("the removed key b still has a symlink")
	}
	if _, err := os.Stat(filepath.Join(dir, first)); !os.IsNotExist(err) {
		t.Errorf("the old timestamped folder %s was not removed", first)
	}
}
