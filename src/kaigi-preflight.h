/* kaigi-preflight.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gio/gio.h>

#include "kaigi-types.h"
#include "kaigi-error.h"

G_BEGIN_DECLS

gboolean kaigi_preflight_check_certificate    (const KaigiConfig  *config,
                                               GError            **error);
gboolean kaigi_preflight_check_recordings_dir (const KaigiConfig  *config,
                                               GError            **error);
gboolean kaigi_preflight_check                (const KaigiConfig  *config,
                                               GError            **error);

G_END_DECLS
