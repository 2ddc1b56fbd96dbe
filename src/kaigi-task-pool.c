/* kaigi-task-pool.c — a thread of its own for every streaming task
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * GStreamer's default GstTaskPool runs streaming tasks on GLib's shared
 * thread pool: when a task ends, its thread goes back to GLib and may next
 * run anything else in the process — another element's task, the
 * compositor's scaling (a GstSharedTaskPool), a GIO job. A thread's
 * priority goes with it, and a lowered priority cannot be raised again
 * without CAP_SYS_NICE. So a recording's threads, which run at
 * KAIGI_RECORDER_NICE, could come back as a participant's forwarding
 * thread, still lowered. A room therefore gives every task of its pipeline
 * to one of two KaigiTaskPools (in its bus's sync handler, on
 * GST_STREAM_STATUS_TYPE_CREATE, as the GStreamer manual's "Configuring the
 * priority of threads" describes): each task gets a new thread, which
 * lowers itself to the pool's nice value and ends with the task.
 */

#include "config.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kaigi-task-pool.h"

GST_DEBUG_CATEGORY_STATIC (kaigi_task_pool_debug);
#define GST_CAT_DEFAULT kaigi_task_pool_debug

struct _KaigiTaskPool
{
  GstTaskPool parent_instance;

  int nice;
};

G_DEFINE_FINAL_TYPE_WITH_CODE (KaigiTaskPool, kaigi_task_pool, GST_TYPE_TASK_POOL,
                               GST_DEBUG_CATEGORY_INIT (kaigi_task_pool_debug, "kaigi-task-pool", 0,
                                                        "Kaigi streaming threads"))

typedef struct
{
  GstTaskPoolFunction func;
  gpointer user_data;
  int nice;
} Job;

/**
 * kaigi_task_pool_lower_thread:
 * @tid: a thread of this process (its kernel thread id, gettid(2))
 * @nice: the nice value to lower it to (setpriority(2))
 *
 * Lowers the priority of thread @tid to @nice if it runs higher; never
 * raises it (that needs CAP_SYS_NICE). A thread that cannot be changed
 * (gone already) is noted in the debug log only. Linux per-thread
 * priorities (sched(7)). Any thread.
 */
void
kaigi_task_pool_lower_thread (pid_t tid,
                              int   nice)
{
  int current;

  errno = 0;
  current = getpriority (PRIO_PROCESS, (id_t) tid);
  if (errno == 0 && current < nice && setpriority (PRIO_PROCESS, (id_t) tid, nice) != 0)
    GST_DEBUG ("cannot lower the priority of thread %d to %d: %s", (int) tid, nice, g_strerror (errno));
}

static gpointer
run_job (gpointer data)
{
  Job job = *(Job *) data;

  g_free (data);
  /* A new thread starts at its creator's priority */
  kaigi_task_pool_lower_thread ((pid_t) syscall (SYS_gettid), job.nice);
  job.func (job.user_data);
  return NULL;
}

static void
kaigi_task_pool_prepare (GstTaskPool  *pool,
                         GError      **error)
{
  /* Nothing to prepare: threads are made as tasks come */
}

static void
kaigi_task_pool_cleanup (GstTaskPool *pool)
{
  /* Nothing to clean up: every thread ends with its task */
}

/* Runs @func on a new, detached thread. GstTask does not need a handle:
 * gst_task_join() waits for the task function to return, not for the
 * thread, so push returns NULL and there is nothing to join or dispose. */
static gpointer
kaigi_task_pool_push (GstTaskPool          *pool,
                      GstTaskPoolFunction   func,
                      gpointer              user_data,
                      GError              **error)
{
  KaigiTaskPool *self = KAIGI_TASK_POOL (pool);
  Job *job = g_new (Job, 1);
  GThread *thread;

  job->func = func;
  job->user_data = user_data;
  job->nice = self->nice;
  /* GstTask names the thread after its pad once it runs */
  thread = g_thread_try_new ("kaigi-task", run_job, job, error);
  if (thread == NULL)
    {
      g_free (job);
      return NULL;
    }
  g_thread_unref (thread);
  return NULL;
}

static void
kaigi_task_pool_join (GstTaskPool *pool,
                      gpointer     id)
{
  /* push never returns a handle */
}

static void
kaigi_task_pool_class_init (KaigiTaskPoolClass *klass)
{
  GstTaskPoolClass *pool_class = GST_TASK_POOL_CLASS (klass);

  pool_class->prepare = kaigi_task_pool_prepare;
  pool_class->cleanup = kaigi_task_pool_cleanup;
  pool_class->push = kaigi_task_pool_push;
  pool_class->join = kaigi_task_pool_join;
}

static void
kaigi_task_pool_init (KaigiTaskPool *self)
{
}

/**
 * kaigi_task_pool_new:
 * @nice: the nice value (setpriority(2): -20 highest, +19 lowest) that
 *   every thread of the pool lowers itself to when it starts; a thread
 *   whose creator already runs lower keeps its creator's value
 *
 * Creates a task pool that runs each pushed task on a new thread of its
 * own, which ends when the task function returns: a thread's priority
 * never passes from one task to another, as it can through GStreamer's
 * default pool (GLib's shared threads). Set it on a GstTask with
 * gst_task_set_pool() when the task's GST_STREAM_STATUS_TYPE_CREATE
 * message arrives on the bus's sync handler (GStreamer Application
 * Development Manual, "Threads": "Configuring the priority of threads").
 * Per-thread priorities are Linux's (sched(7)). Any thread.
 *
 * Returns: (transfer full): the pool, ready for gst_task_set_pool()
 */
GstTaskPool *
kaigi_task_pool_new (int nice)
{
  KaigiTaskPool *self = g_object_new (KAIGI_TYPE_TASK_POOL, NULL);

  self->nice = CLAMP (nice, -20, 19);
  return GST_TASK_POOL (gst_object_ref_sink (self));
}
