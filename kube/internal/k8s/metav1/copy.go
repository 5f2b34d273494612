package metav1

import "maps"

// DeepCopy is a copy of m that shares no map, slice or pointer with it.
func (m ObjectMeta) DeepCopy() ObjectMeta {
	out := m
	out.Labels = maps.Clone(m.Labels)
	out.Annotations = maps.Clone(m.Annotations)
	out.Finalizers = append([]string(nil), m.Finalizers...)
	out.OwnerReferences = append([]OwnerReference(nil), m.OwnerReferences...)
	if m.DeletionTimestamp != nil {
		t := *m.DeletionTimestamp
		out.DeletionTimestamp = &t
	}
	if m.DeletionGracePeriodSeconds != nil {
		s := *m.DeletionGracePeriodSeconds
		out.DeletionGracePeriodSeconds = &s
	}
	return out
}
