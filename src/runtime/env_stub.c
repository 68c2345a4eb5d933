/* Temporary: a minimal rt_exec_prepare until env.c/action.c land. */
#include <stdlib.h>
#include <string.h>

#include "runtime_internal.h"

void rt_strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

int rt_exec_prepare(rt_ctx *c, char **path, char ***argv, char ***envp, lt_error **err)
{
	const rt_options *o = c->o;
	if (o->n_args == 0)
		return lt_error_set(err, 0, "no command");
	char **a = lt_xcalloc(o->n_args + 1, sizeof(char *));
	for (size_t i = 0; i < o->n_args; i++)
		a[i] = lt_xstrdup(o->args[i]);
	char **e = lt_xcalloc(4, sizeof(char *));
	e[0] = lt_xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	e[1] = lt_strdup_printf("HOME=%s", c->home_dst ? c->home_dst : "/");
	*path = lt_xstrdup(a[0]);
	*argv = a;
	*envp = e;
	return 0;
}
