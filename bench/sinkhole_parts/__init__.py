"""Parts of bench/sinkhole_vs_nginx.py: the load generator, the two servers, idle memory."""
