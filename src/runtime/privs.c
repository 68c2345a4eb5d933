/* The payload's privileges, with Apptainer's options and rules
 * (internal/pkg/runtime/engine/apptainer/prepare_linux.go prepareRootCaps/prepareUserCaps,
 * pkg/util/capabilities):
 *
 *  - root keeps every capability unless --no-privs or --security uid:/gid: (none), then
 *    --add-caps adds and --drop-caps removes; --keep-privs asks for them all explicitly;
 *  - a user has none, but what --add-caps grants (capabilities of the container's user
 *    namespace, kept across execve as ambient ones), minus --drop-caps;
 *  - the result is the permitted, effective, inheritable, bounding and ambient set alike;
 *  - --security uid:N,gid:M switches root to those ids before the payload starts; for a user
 *    the container's user namespace maps the caller to them (nothing but an identity);
 *  - --allow-setuid (root only) mounts the image without nosuid and leaves out
 *    PR_SET_NO_NEW_PRIVS, so that its setuid programs work.
 * Without any of these options nothing is changed.
 *
 * Capability names are case-insensitive, CAP_ is optional, ALL means all of them; unknown names
 * are warned about and left out.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime_internal.h"

static const struct {
	const char *name;
	const char *what;
} caps[] = {
    {"CAP_CHOWN", "change the owner and group of any file"},
    {"CAP_DAC_OVERRIDE", "bypass file read, write and execute permission checks"},
    {"CAP_DAC_READ_SEARCH", "bypass file read and directory search permission checks"},
    {"CAP_FOWNER", "bypass the checks that the file's owner is the caller (chmod, utime ...)"},
    {"CAP_FSETID", "keep the set-user-ID and set-group-ID bits of files when they change"},
    {"CAP_KILL", "send signals to any process"},
    {"CAP_SETGID", "change group IDs, forge them in socket credentials"},
    {"CAP_SETUID", "change user IDs, forge them in socket credentials"},
    {"CAP_SETPCAP", "change the capability bounding set and the capabilities of threads"},
    {"CAP_LINUX_IMMUTABLE", "set the immutable and append-only file attributes"},
    {"CAP_NET_BIND_SERVICE", "bind sockets to ports below 1024"},
    {"CAP_NET_BROADCAST", "broadcast and listen to multicast"},
    {"CAP_NET_ADMIN", "administer networks: interfaces, routes, firewall, sockets"},
    {"CAP_NET_RAW", "use raw and packet sockets"},
    {"CAP_IPC_LOCK", "lock memory (mlock, mlockall, shmctl SHM_LOCK)"},
    {"CAP_IPC_OWNER", "bypass the permission checks of System V IPC objects"},
    {"CAP_SYS_MODULE", "load and unload kernel modules"},
    {"CAP_SYS_RAWIO", "raw I/O: ioperm, iopl, /dev/mem, /dev/kmem"},
    {"CAP_SYS_CHROOT", "use chroot and change mount namespaces"},
    {"CAP_SYS_PTRACE", "trace and inspect any process (ptrace, process_vm_readv ...)"},
    {"CAP_SYS_PACCT", "switch process accounting on and off"},
    {"CAP_SYS_ADMIN", "system administration: mount, sethostname, namespaces and more"},
    {"CAP_SYS_BOOT", "reboot and load new kernels"},
    {"CAP_SYS_NICE", "raise priorities and change the scheduling of any process"},
    {"CAP_SYS_RESOURCE", "override resource limits and quotas"},
    {"CAP_SYS_TIME", "set the system clock and the real-time clock"},
    {"CAP_SYS_TTY_CONFIG", "use vhangup and privileged operations on virtual terminals"},
    {"CAP_MKNOD", "create device files with mknod"},
    {"CAP_LEASE", "take leases on any file"},
    {"CAP_AUDIT_WRITE", "write records to the kernel's audit log"},
    {"CAP_AUDIT_CONTROL", "configure kernel auditing"},
    {"CAP_SETFCAP", "set file capabilities"},
    {"CAP_MAC_OVERRIDE", "override mandatory access control (Smack)"},
    {"CAP_MAC_ADMIN", "configure mandatory access control (Smack)"},
    {"CAP_SYSLOG", "privileged syslog operations, see kernel addresses"},
    {"CAP_WAKE_ALARM", "set alarms that wake the system"},
    {"CAP_BLOCK_SUSPEND", "keep the system from suspending"},
    {"CAP_AUDIT_READ", "read the audit log through multicast netlink"},
    {"CAP_PERFMON", "performance monitoring (perf_event_open ...)"},
    {"CAP_BPF", "privileged BPF operations"},
    {"CAP_CHECKPOINT_RESTORE", "checkpoint and restore processes (set PIDs, map files)"},
};

size_t rt_cap_count(void)
{
	return LT_ARRAY_SIZE(caps);
}

const char *rt_cap_name(size_t i)
{
	return i < LT_ARRAY_SIZE(caps) ? caps[i].name : NULL;
}

const char *rt_cap_description(size_t i)
{
	return i < LT_ARRAY_SIZE(caps) ? caps[i].what : NULL;
}

char *rt_cap_normalize(const char *name)
{
	while (isspace((unsigned char)*name))
		name++;
	size_t len = strlen(name);
	while (len > 0 && isspace((unsigned char)name[len - 1]))
		len--;
	bool prefixed = len >= 4 && strncasecmp(name, "CAP_", 4) == 0;
	char *out = lt_strdup_printf("%s%.*s", prefixed ? "" : "CAP_", (int)len, name);
	for (char *p = out; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return out;
}

int rt_cap_lookup(const char *normalized)
{
	for (size_t i = 0; i < LT_ARRAY_SIZE(caps); i++)
		if (strcmp(caps[i].name, normalized) == 0)
			return (int)i;
	return -1;
}

/* The capabilities this kernel has. */
static uint64_t all_caps(void)
{
	char *data = NULL;
	lt_error *ignored = NULL;
	long last = (long)LT_ARRAY_SIZE(caps) - 1;
	if (lt_read_file("/proc/sys/kernel/cap_last_cap", &data, NULL, &ignored) == 0)
		last = strtol(data, NULL, 10);
	lt_error_free(&ignored);
	free(data);
	if (last < 0 || last > 63)
		last = 63;
	return last == 63 ? UINT64_MAX : (UINT64_C(1) << (last + 1)) - 1;
}

/* A comma list of names as a set; unknown names are warned about as Apptainer does. */
static uint64_t parse_caps(const char *list, const char *warning)
{
	uint64_t set = 0;
	if (list == NULL)
		return 0;
	char *copy = lt_xstrdup(list);
	char *save = NULL;
	for (char *item = strtok_r(copy, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		char *name = rt_cap_normalize(item);
		int i = rt_cap_lookup(name);
		if (strcmp(name, "CAP_ALL") == 0)
			set = all_caps();
		else if (i < 0)
			lt_warn("%s: %s", warning, name);
		else
			set |= UINT64_C(1) << i;
		free(name);
	}
	free(copy);
	return set;
}

static int parse_id(const char *s, const char *what, unsigned long *out, lt_error **err)
{
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0 || v > 0xfffffffeUL)
		return lt_error_set(err, 0,
				    "Could not configure target UID/GID: failed to parse provided "
				    "%s: \"%s\" is not a number",
				    what, s);
	*out = v;
	return 0;
}

/* One --security item. */
static int security_item(rt_ctx *c, const char *item, bool *uid_set, bool *gid_set, lt_error **err)
{
	unsigned long v = 0;
	if (strncmp(item, "uid:", 4) == 0) {
		if (parse_id(item + 4, "UID", &v, err) < 0)
			return -1;
		c->payload_uid = (uid_t)v;
		*uid_set = true;
		return 0;
	}
	if (strncmp(item, "gid:", 4) == 0) {
		char *copy = lt_xstrdup(item + 4), *save = NULL;
		int rc = 0;
		c->n_payload_groups = 0;
		for (char *g = strtok_r(copy, ":", &save); g != NULL && rc == 0;
		     g = strtok_r(NULL, ":", &save)) {
			rc = parse_id(g, "GID", &v, err);
			if (rc < 0)
				break;
			c->payload_groups = lt_xrealloc(c->payload_groups,
							(c->n_payload_groups + 1) * sizeof(gid_t));
			c->payload_groups[c->n_payload_groups++] = (gid_t)v;
		}
		free(copy);
		if (rc == 0 && c->n_payload_groups == 0)
			rc = parse_id("", "GID", &v, err);
		if (rc < 0)
			return -1;
		c->payload_gid = c->payload_groups[0];
		*gid_set = true;
		return 0;
	}
	return lt_error_set(err, 0,
			    "--security %s: litho supports uid:N and gid:N[:N...] (no seccomp, "
			    "apparmor or selinux profiles)",
			    item);
}

int rt_privs_resolve(rt_ctx *c, lt_error **err)
{
	const rt_options *o = c->o;
	bool root = c->uid == 0;
	if (o->allow_setuid && !root)
		return lt_error_set(err, 0,
				    "Could not configure --allow-setuid: --allow-setuid requires "
				    "root privileges");
	if (o->keep_privs && !root)
		return lt_error_set(err, 0,
				    "Could not configure --keep-privs: --keep-privs requires root "
				    "privileges");
	c->payload_uid = o->fakeroot ? 0 : c->uid;
	c->payload_gid = o->fakeroot ? 0 : c->gid;
	bool uid_set = false, gid_set = false;
	for (size_t i = 0; i < o->n_security; i++) {
		char *copy = lt_xstrdup(o->security[i]), *save = NULL;
		int rc = 0;
		for (char *item = strtok_r(copy, ",", &save); item != NULL && rc == 0;
		     item = strtok_r(NULL, ",", &save))
			rc = security_item(c, item, &uid_set, &gid_set, err);
		free(copy);
		if (rc < 0)
			return -1;
	}
	c->ids_set = uid_set || gid_set;
	if (c->ids_set && o->fakeroot)
		return lt_error_set(err, 0, "--security uid/gid cannot be used with --fakeroot");
	if (c->ids_set && !c->root && c->n_payload_groups > 1)
		lt_warn("--security gid: only the first group can be mapped without root");
	c->privs_set = o->no_privs || o->keep_privs || o->add_caps || o->drop_caps || c->ids_set;
	if (!c->privs_set)
		return 0;
	uint64_t base = 0;
	if (c->payload_uid == 0 && !o->no_privs && !c->ids_set)
		base = all_caps();
	base |= parse_caps(o->add_caps, "won't add unknown capability");
	base &= ~parse_caps(o->drop_caps, "won't drop unknown capability");
	c->caps = base & all_caps();
	return 0;
}

bool rt_privs_nnp(const rt_ctx *c)
{
	return !(c->o->allow_setuid && c->root);
}

int rt_privs_apply(const rt_ctx *c, lt_error **err)
{
	if (!c->privs_set)
		return 0;
	uint64_t all = all_caps();
	for (int i = 0; i < 64; i++)
		if ((all & (UINT64_C(1) << i)) && !(c->caps & (UINT64_C(1) << i)) &&
		    prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0 && errno != EINVAL)
			return lt_error_set(err, errno, "dropping capability %d", i);
	if (c->ids_set && c->root) {
		size_t n = c->n_payload_groups > 1 ? c->n_payload_groups - 1 : 0;
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 ||
		    setgroups(n, n ? c->payload_groups + 1 : NULL) < 0 ||
		    setresgid(c->payload_gid, c->payload_gid, c->payload_gid) < 0 ||
		    setresuid(c->payload_uid, c->payload_uid, c->payload_uid) < 0)
			return lt_error_set(err, errno, "--security: switching to uid %u gid %u",
					    (unsigned)c->payload_uid, (unsigned)c->payload_gid);
	}
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) < 0)
		return lt_error_set(err, errno, "reading the capabilities");
	/* what we do not have (a host that withholds some from root) cannot be given */
	uint64_t have = (uint64_t)data[0].permitted | ((uint64_t)data[1].permitted << 32);
	uint64_t want = c->caps & have;
	for (int w = 0; w < 2; w++) {
		uint32_t bits = (uint32_t)(want >> (32 * w));
		data[w].effective = data[w].permitted = data[w].inheritable = bits;
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		return lt_error_set(err, errno, "setting the capabilities");
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	for (int i = 0; i < 64; i++)
		if ((want & (UINT64_C(1) << i)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0) < 0)
			return lt_error_set(err, errno, "raising capability %d", i);
	return 0;
}
