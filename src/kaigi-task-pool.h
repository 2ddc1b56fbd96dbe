/* kaigi-task-pool.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <sys/types.h>

#include <gst/gst.h>

G_BEGIN_DECLS

#define KAIGI_TYPE_TASK_POOL (kaigi_task_pool_get_type ())

G_DECLARE_FINAL_TYPE (KaigiTaskPool, kaigi_task_pool, KAIGI, TASK_POOL, GstTaskPool)

GstTaskPool *kaigi_task_pool_new          (int   nice);
void         kaigi_task_pool_lower_thread (pid_t tid,
                                           int   nice);

G_END_DECLS
