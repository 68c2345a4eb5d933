/* The namespaces beyond the user and mount ones, as Apptainer's launcher sets them up
 * (internal/pkg/runtime/launcher/native/launcher_linux.go setNamespaces):
 *
 *  - PID (--pid, implied by --containall and --compat, dropped again by --no-pid): the container
 *    gets a fresh /proc, and its PID 1 is litho's init (init.c) unless --no-init;
 *  - IPC (--ipc, implied by --containall): with --contain also a fresh /dev/mqueue;
 *  - UTS (--uts, implied by --hostname): the host name inside, also in /etc/hostname;
 *  - network (--net, implied by --network): only "none", a namespace whose loopback interface
 *    is up, which any user may have. The other types need CNI plugins run as root.
 *
 * They are created by the container process in the same unshare() as its user namespace, so
 * that this namespace owns them (the kernel wants capabilities there for sethostname, a proc
 * or mqueue mount, bringing lo up).
 */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime_internal.h"

/* Apptainer's hostname check (internal/pkg/util/fs/files/hostname.go): dot-separated labels
 * of letters, digits and inner dashes. */
bool rt_hostname_valid(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > 64)
		return false;
	const char *label = name;
	for (const char *p = name;; p++) {
		if (*p == '.' || *p == '\0') {
			size_t n = (size_t)(p - label);
			if (n == 0 || label[0] == '-' || label[n - 1] == '-')
				return false;
			if (*p == '\0')
				return true;
			label = p + 1;
		} else if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || *p == '-')) {
			return false;
		}
	}
}

/* --network: a comma list of CNI network names, of which litho knows "none". */
static int check_network(const rt_ctx *c, const char *list, lt_error **err)
{
	char *copy = lt_xstrdup(list);
	char *save = NULL;
	int rc = 0;
	for (char *n = strtok_r(copy, ",", &save); n != NULL && rc == 0;
	     n = strtok_r(NULL, ",", &save)) {
		while (*n == ' ')
			n++;
		if (strcmp(n, "none") == 0)
			continue;
		if (c->uid != 0 || c->o->userns)
			rc = lt_error_set(err, 0,
					  "network requires root or a suid installation with "
					  "/etc/subuid --fakeroot; non-root users can only use "
					  "--network=none unless permitted by the administrator");
		else
			rc = lt_error_set(err, 0,
					  "--network %s: litho does not run CNI network plugins; "
					  "only --network none (loopback only) is supported",
					  n);
	}
	free(copy);
	return rc;
}

int rt_ns_resolve(rt_ctx *c, lt_error **err)
{
	const rt_options *o = c->o;
	c->contain = o->contain || o->containall;
	c->ns_flags = 0;
	/* --no-pid drops the PID namespace whatever asked for it: Apptainer documents it so
	 * (CHANGELOG 1.3.0) although its own code never reads the flag */
	if ((o->pid || o->containall) && !o->no_pid)
		c->ns_flags |= CLONE_NEWPID;
	c->init = (c->ns_flags & CLONE_NEWPID) && !o->no_init;
	if (o->ipc || o->containall)
		c->ns_flags |= CLONE_NEWIPC;
	if (o->hostname != NULL) {
		if (!rt_hostname_valid(o->hostname))
			return lt_error_set(err, 0,
					    "unable to add %s to hostname file: %s is not a valid "
					    "hostname",
					    o->hostname, o->hostname);
		c->ns_flags |= CLONE_NEWUTS;
	}
	if (o->uts)
		c->ns_flags |= CLONE_NEWUTS;
	if (o->network != NULL && !o->net)
		lt_info("Setting --net (required by --network)");
	if (o->net || o->network != NULL) {
		/* --net alone is Apptainer's bridge network */
		if (check_network(c, o->network ? o->network : "bridge", err) < 0)
			return -1;
		c->ns_flags |= CLONE_NEWNET;
	}
	return 0;
}

static int loopback_up(lt_error **err)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return lt_error_set(err, errno, "Failed to set flags on interface: socket");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	int rc = 0;
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		rc = lt_error_set(err, errno, "Failed to set flags on interface: lo");
	} else {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			rc = lt_error_set(err, errno, "Failed to set flags on interface: lo");
	}
	close(s);
	return rc;
}

int rt_ns_setup(const rt_ctx *c, lt_error **err)
{
	const char *name = c->o->hostname;
	if (name != NULL && sethostname(name, strlen(name)) < 0)
		return lt_error_set(err, errno, "setting the host name %s", name);
	if ((c->ns_flags & CLONE_NEWNET) && loopback_up(err) < 0)
		return -1;
	return 0;
}
