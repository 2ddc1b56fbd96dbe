/* kaigi-notify.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean kaigi_notify (const char  *state,
                       GError     **error);

G_END_DECLS
